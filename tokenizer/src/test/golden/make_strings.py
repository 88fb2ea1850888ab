#!/usr/bin/env python3
"""Writes strings.json: the test strings whose ids the golden files pin (input of make_token_goldens.js).

Deterministic (no randomness outside a fixed-seed generator); run from this folder:
    python3 make_strings.py
"""
import json
import random

S = []


def add(s):
    S.append(s)


# English and general prose
add("Hello, world! The quick brown fox jumps over the lazy dog.")
add("")
add(" ")
add("   leading and trailing spaces   ")
add("I'm sure they'd've said it's John's, but we'll see\u2014won't we? DON'T YOU'LL")
add("don't DON'T it\u2019s \u2019quoted\u2018 \"double\" 'single'")
add("Visit https://example.com/path?q=1&r=2#frag or mail me@example.org.")
add("Wait... what?!?! (really) [yes] {no} <maybe> --- *** ### @@@ ~~~ ```")
add("# Title\n\n- item 1\n- item 2\n\n**bold** _italic_ `code`\n\n> quote\n")
add("<div class=\"a\">&amp; &lt;tag&gt;</div>")
add("supercalifragilisticexpialidocious " + "x" * 300)
# CJK
add("\u6df1\u5ea6\u6c42\u7d22\u662f\u4e00\u5bb6\u4e13\u6ce8\u4e8e\u4eba\u5de5\u667a\u80fd\u57fa\u7840\u6280\u672f\u7814\u7a76\u7684\u516c\u53f8\u3002\u6211\u4eec\u7684\u76ee\u6807\u662f\u63a2\u7d22\u901a\u7528\u4eba\u5de5\u667a\u80fd\u7684\u672c\u8d28\u3002")
add("繁體中文測試：機器學習與自然語言處理，標點符號「引號」")
add("日本語のテキストです。ひらがな、カタカナ、漢字が混ざっています。東京タワーに行きましょう！")
add("ｶﾀｶﾅ ﾃｽﾄ ＨＥＬＬＯ　ｗｏｒｌｄ")
add("ー・「」『』【】〜ゝゞヽヾ")
add("안녕하세요, 세계! 한국어 토크나이저 테스트입니다.")
add("\u1100\u1161\u11a8 decomposed jamo")
add("GPT-4o与DeepSeek-V3的比较：performance提升了30%！")
add("第123章：2024年1月1日，价格￥1,234.56元")
# code, indentation, whitespace
add("def f(x):\n\tif x:\n\t    return [i**2 for i in range(10)]\n    \treturn None\n")
add("public static void main(String[] args) {\n    System.out.println(\"hi\");\n\t\t// tab-indented comment\n}\n")
add("{\"key\": [1, 2.5, -3e10, null, true], \"nested\": {\"a\": \"b\"}}")
add("a          b")
add("line1\n\n\n\nline2\n")
add("col1\t\tcol2\t\t\tcol3\t")
add("first line\r\nsecond line\r\n\r\nthird")
add("a\rb\r\rc\r")
add(" \t \n \r\n \u000b\u000c end")
add("a  \n  b \n\n c   \n")
add("\n\n\n")
add("\t\n\t\n")
add("ends with spaces   ")
add("a\u00a0b\u2003c\u3000d\u2028e\u2029f\u0085g\u200bh\u180ei")
# digits
add("12345678901234567890123456789")
add("In 2024, 3.14159 \u00d7 10^5 = 314159; phone +1-555-0100")
add("Arabic-Indic \u0661\u0662\u0663\u0664\u0665 Persian \u06f1\u06f2\u06f3 fullwidth \uff11\uff12\uff13\uff14\uff15\uff16")
add("\u216b \u00bd \u00b2 \u2460 \u2473 \U0001d7d8\U0001d7d9\U0001d7da \U0001d7cf\U0001d7d0\U0001d7d1")
add("abc123def4567ghi89 v1.2.3 0x1F")
# emoji
add("I love pizza \U0001f355\U0001f355\U0001f355!")
add("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family")
add("\U0001f44d\U0001f3fd \U0001f44b\U0001f3ff \U0001f9d1\U0001f3fb\u200d\U0001f4bb")
add("\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5\U0001f1e8\U0001f1f3\U0001f1e9\U0001f1ea \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f")
add("1\ufe0f\u20e3 #\ufe0f\u20e3 \u2764\ufe0f \u263a\ufe0e")
add("\U0001f3fd alone \ufe0f")
add("\U0001f600" * 50)
# special tokens typed in the text
add("<\uff5cbegin\u2581of\u2581sentence\uff5c>User: hi\n\nAssistant: hello<\uff5cend\u2581of\u2581sentence\uff5c>")
add("<\uff5ctool\u2581calls\u2581begin\uff5c><\uff5ctool\u2581call\u2581begin\uff5c>function<\uff5ctool\u2581sep\uff5c>get_weather\n```json\n{\"city\": \"Paris\"}\n```<\uff5ctool\u2581call\u2581end\uff5c><\uff5ctool\u2581calls\u2581end\uff5c>")
add("x<\uff5cbegin\u2581of\u2581sentence\uff5c><\uff5cbegin\u2581of\u2581sentence\uff5c>y<\uff5cbegin\u2581of\u2581sentence")
add("<\uff5cUser\uff5c>What is 2+2?<\uff5cAssistant\uff5c>4<\uff5cend\u2581of\u2581sentence\uff5c>")
add("<\uff5c\u2581pad\u2581\uff5c>")
add("  <\uff5cend\u2581of\u2581sentence\uff5c>  \n")
add("<|begin_of_sentence|> <\uff5cend of sentence\uff5c> <\uff5cUSER\uff5c>")
add("<think>\nreasoning\n</think>\n\nanswer")
# surrogates (Java strings can hold unpaired ones)
add("abc\ud800def")
add("\udc00xyz")
add("\udc00\ud800")
add("end\ud83d")
add("\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522 \U0001d544\U0001d552\U0001d565\U0001d559 \U00010348")
# combining marks, scripts, RTL, bidi
add("e\u0301 n\u0303 a\u0308\u0304 Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307l\u036e\u0312\u036bg\u030c\u0317\u035a\u031ao\u0319\u0314\u036e\u0307\u0350\u0307")
add("\u00e9 vs e\u0301 \u2014 caf\u00e9 / cafe\u0301")
add("\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e, \u0939\u093f\u0928\u094d\u0926\u0940 \u092a\u093e\u0920")
add("\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22")
add("\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645! \u0647\u0630\u0627 \u0646\u0635 \u0639\u0631\u0628\u064a.")
add("\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd \u200f(123)\u200e abc")
add("\u202eevil\u202c text \u2066iso\u2069")
add("\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0421\u044a\u0435\u0448\u044c \u0436\u0435 \u0435\u0449\u0451 \u044d\u0442\u0438\u0445 \u043c\u044f\u0433\u043a\u0438\u0445 \u0444\u0440\u0430\u043d\u0446\u0443\u0437\u0441\u043a\u0438\u0445 \u0431\u0443\u043b\u043e\u043a.")
add("\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5\u00b7 \u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac")
add("Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u: \u01b0\u1eddng, \u01b0\u1ee3ng")
add("\u2200x\u2208\u211d: x\u00b2 \u2265 0 \u21d2 \u221a(x\u00b2) = |x|  \u2211_{i=1}^{n} i = n(n+1)/2")
# control, private use, byte-level alphabet characters typed literally
add("\u0000\u0001\u0007\u001b[31mred\u001b[0m\u007f")
add("\ue000\uf8ff\ufffd\ufffe\uffff")
add("\u00ff\u0100\u0120\u010a typed byte-level chars \u0120the")

# A 10,000-character string: a fixed-seed shuffle of pieces of everything above.
rng = random.Random(20240501)
pool = [s for s in S if s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s)]
parts = []
length = 0
while length < 10000:
    piece = rng.choice(pool)
    start = rng.randrange(len(piece))
    piece = piece[start:start + rng.randrange(1, 200)]
    parts.append(piece)
    length += len(piece)
big = "".join(parts)[:10000]
add(big)

assert len(S) >= 60, len(S)
with open("strings.json", "w", encoding="ascii") as f:
    json.dump(S, f, ensure_ascii=True, indent=0)
    f.write("\n")
print(f"wrote {len(S)} strings to strings.json")

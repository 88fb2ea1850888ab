#!/usr/bin/env python3
"""Expected chat-template renderings from real Jinja2, set up exactly as transformers'
`apply_chat_template` sets it up (transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
a `tojson` filter = json.dumps(x, ensure_ascii=False, indent, separators, sort_keys),
globals `raise_exception` (raises TemplateError(message)) and `strftime_now`, and the render call
`render(messages=..., tools=None, documents=None, add_generation_prompt=..., **special_tokens, **extra)`.

Usage (python3 with jinja2 3.1.x; from this folder):
    python3 render_chat_goldens.py V3_TOKENIZER_CONFIG.json V2_TEMPLATE.jinja OUT.json
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def compile_template(source):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


v3_config_file, v2_template_file, out_file = sys.argv[1:4]
v3_config = json.load(open(v3_config_file, encoding="utf-8"))
with open(v2_template_file, encoding="utf-8") as f:
    v2_template = f.read()

DS_BOS, DS_EOS = "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>"
special_tokens = {"bos_token": DS_BOS, "eos_token": DS_EOS, "pad_token": DS_EOS}

templates = {
    "deepseek-v2-chat": v2_template,
    "deepseek-v3": v3_config["chat_template"],
    # A template that rejects unknown roles, as many model templates do.
    "strict-roles": (
        "{{ bos_token }}{% for message in messages %}"
        "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
        "{{ raise_exception('Unknown role: ' + message['role'] + '. Roles must be system, user or assistant.') }}"
        "{% endif %}{{ message['role'] | upper }}: {{ message['content'] }}\n"
        "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    ),
    # Jinja2 features that chat templates use beyond the DeepSeek ones.
    "features": (
        "{%- set ns = namespace(count=0, names='') -%}\n"
        "{%- for message in messages -%}\n"
        "    {%- if message['role'] == 'system' %}{% continue %}{% endif -%}\n"
        "    {%- if ns.count >= 3 %}{% break %}{% endif -%}\n"
        "    {%- set ns.count = ns.count + 1 -%}\n"
        "    {%- set ns.names = ns.names + message['role'][:1] -%}\n"
        "    [{{ loop.index0 }}{% if loop.first %} first{% endif %}{% if loop.last %} last{% endif %}] "
        "{{ message['content'] | trim }}|{{ message['content'].strip() }}|{{ message['content'].startswith('Hi') }}"
        "|{{ message['content'].split(' ')[-1] }}|{{ message['content'].endswith('!') }}|{{ message['content'].lower() }}\n"
        "    {% if message['name'] is defined and message['name'] is not none %}name={{ message['name'] }}\n{% endif %}\n"
        "{%- endfor -%}\n"
        "count={{ ns.count }} names={{ ns.names }}\n"
        "{% if tools %}tools={{ tools | tojson }}\n"
        "tools2={{ tools | tojson(indent=2) }}\n"
        "{% endif %}\n"
        "{%- if extra_flag is defined %}extra={{ extra_flag }}\n{% endif -%}\n"
        "{{ '  lstrip me  ' | trim }} {{ 'a,b,,c'.split(',') | length }} {{ 'x y  z'.split() | join('+') }}\n"
        "{%- if add_generation_prompt %}\n<gen>{% endif %}\n"
    ),
    # Operators, slicing, tests and filters that model templates commonly use.
    "expressions": (
        "{%- if messages[0]['role'] == 'system' -%}\n"
        "    {%- set system = messages[0]['content'] -%}\n"
        "    {%- set rest = messages[1:] -%}\n"
        "{%- else -%}\n"
        "    {%- set system = 'default system' -%}\n"
        "    {%- set rest = messages -%}\n"
        "{%- endif -%}\n"
        "S={{ system }}|n={{ rest | length }}|last={{ messages[-1]['role'] }}\n"
        "{% for m in rest %}\n"
        "  {{- loop.index }}/{{ loop.length }}:{{ m.role }}={{ m.content | default('', true) }}"
        "{{ ',' if not loop.last else '.' }}\n"
        "{% endfor %}\n"
        "{{ not undefined_var is defined }}|{{ messages is defined and undefined_var is not defined }}"
        "|{{ true or false and false }}|{{ not false or false }}|{{ 'ss' in 'assistant' }}|{{ 3 > 2 and 2 >= 2 }}"
        "|{{ (1 + 2) * 3 }}|{{ 7 // 2 }}|{{ 7 % 3 }}|{{ 2 ** 3 }}|{{ [1, 2] + [3] }}\n"
        "{{ messages | map(attribute='role') | join(',') }}|{{ messages | selectattr('role', 'equalto', 'user') | list | length }}"
        "|{{ 'x' if messages[0]['content'] is none else 'y' }}|{{ undefined_var | default('dflt') }}|{{ 'A-b c'.title() }}"
        "|{{ ' a b '.split() | length }}|{{ 'k=v'.split('=', 1)[1] }}|{{ 'abc'.replace('b', 'B') }}\n"
        "{%- for k, v in {'b': 1, 'a': [1, 2.5, none, 'x']}.items() %} {{ k }}:{{ v | tojson }}{% endfor %}\n"
        "{{ {'u': 'caf\u00e9 \u2028', 'n': 1e-5, 'm': 1e16, 'f': 0.1, 'big': 1234567890123} | tojson(sort_keys=true) }}\n"
        "{#- a comment -#}\n"
        "   {{- '[trimmed both sides]' -}}   \n"
        "{% raw %}{{ raw }}{% endraw %}\n"
    ),
}

tool_call_messages = [
    {"role": "system", "content": "You are a helpful assistant with tool calling capabilities."},
    {"role": "user", "content": "What's the weather in Paris and Tokyo?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
        {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Tokyo\", \"unit\": \"celsius\"}"}},
    ]},
    {"role": "tool", "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"},
    {"role": "tool", "content": "{\"temperature\": 24, \"sky\": \"clear\"}"},
    {"role": "assistant", "content": "Paris is 18\u00b0C and cloudy; Tokyo is 24\u00b0C and clear."},
    {"role": "user", "content": "Thanks! \U0001f44d"},
]

injection = "{{ 7*7 }} and {% if true %}x{% endif %} and {# comment #} and {{ bos_token }}"

conversations = {
    "single-user": [{"role": "user", "content": "Hi! 2+2?"}],
    "system-user": [{"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "Hi! 2+2?"}],
    "multi-turn": [{"role": "system", "content": "You are a helpful assistant."},
                   {"role": "user", "content": "Hi! 2+2?"},
                   {"role": "assistant", "content": "4."},
                   {"role": "user", "content": "Why? {{ not a template }} 'quoted' \"dq\""}],
    "multi-turn-no-system": [{"role": "user", "content": "Tell me a joke."},
                             {"role": "assistant", "content": "Why did the chicken cross the road?"},
                             {"role": "user", "content": "Why?"},
                             {"role": "assistant", "content": "To get to the other side."}],
    "two-system-messages": [{"role": "system", "content": "Rule one."},
                            {"role": "system", "content": "Rule two."},
                            {"role": "user", "content": "Go."}],
    "injection": [{"role": "user", "content": injection}],
    "unicode-and-whitespace": [{"role": "user", "content": "  \u6df1\u5ea6\u6c42\u7d22 \U0001f468\u200d\U0001f469\u200d\U0001f467\n\n\ttabs and trailing spaces   \r\n"}],
    "tool-calls": tool_call_messages,
    "tool-output-last": tool_call_messages[:5],
    "single-tool-call": [{"role": "user", "content": "Time?"},
                         {"role": "assistant", "content": None, "tool_calls": [
                             {"type": "function", "function": {"name": "now", "arguments": "{}"}}]},
                         {"role": "tool", "content": "12:00"},
                         {"role": "assistant", "content": "It is noon."}],
    "unknown-role": [{"role": "user", "content": "hi"}, {"role": "moderator", "content": "be nice"}],
    "named": [{"role": "system", "content": "sys"},
              {"role": "user", "content": "  Hi there friend!  ", "name": "alice"},
              {"role": "assistant", "content": "Hello Alice!"},
              {"role": "user", "content": "Hi again", "name": None},
              {"role": "assistant", "content": "never shown"}],
}

tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather \u00e0 la carte \U0001f326",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]

plan = [
    ("deepseek-v2-chat", ["single-user", "system-user", "multi-turn", "multi-turn-no-system", "injection",
                          "unicode-and-whitespace", "unknown-role"], {}),
    ("deepseek-v3", ["single-user", "system-user", "multi-turn", "multi-turn-no-system", "two-system-messages",
                     "injection", "unicode-and-whitespace", "tool-calls", "tool-output-last", "single-tool-call",
                     "unknown-role"], {}),
    ("strict-roles", ["multi-turn", "unknown-role", "injection"], {}),
    ("features", ["named", "multi-turn"], {"tools": tools, "extra_flag": "on"}),
    ("features", ["named"], {}),
    ("expressions", ["multi-turn", "multi-turn-no-system", "named"], {}),
]

cases = []
for template_name, conversation_names, extra in plan:
    template = compile_template(templates[template_name])
    for conversation_name in conversation_names:
        for add_generation_prompt in (True, False):
            messages = conversations[conversation_name]
            kwargs = dict(special_tokens)
            kwargs.update(extra)
            case = {"template": template_name, "conversation": conversation_name,
                    "add_generation_prompt": add_generation_prompt, "extra": extra, "messages": messages}
            try:
                tools_arg = kwargs.pop("tools", None)
                case["output"] = template.render(messages=messages, tools=tools_arg, documents=None,
                                                 add_generation_prompt=add_generation_prompt, **kwargs)
            except jinja2.exceptions.TemplateError as e:
                case["error"] = str(e)
            cases.append(case)

out = {"generator": f"render_chat_goldens.py with jinja2 {jinja2.__version__}",
       "special_tokens": special_tokens, "templates": templates, "cases": cases}
with open(out_file, "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases to {out_file}")

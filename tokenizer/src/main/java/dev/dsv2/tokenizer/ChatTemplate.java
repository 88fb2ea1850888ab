package dev.dsv2.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.CompositeELResolver;

/**
 * A model's Jinja chat template, rendered with Jinjava so that the output is byte-identical to transformers'
 * {@code tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)}.
 *
 * <p>transformers renders with a sandboxed Jinja2 environment ({@code trim_blocks=True},
 * {@code lstrip_blocks=True}, the {@code loopcontrols} extension), a {@code tojson} filter that is Python's
 * {@code json.dumps(ensure_ascii=False)}, globals {@code raise_exception(msg)} and {@code strftime_now(fmt)},
 * and the variables {@code messages}, {@code add_generation_prompt}, the special tokens ({@code bos_token},
 * {@code eos_token}, {@code pad_token}, {@code unk_token}) and any extra keyword arguments (e.g. {@code tools}).
 * Here Jinjava is configured to match:
 * <ul>
 *   <li><b>nested interpretation off</b>: message content is data, never template code ({@code {{ 7*7 }}} in a
 *       message renders literally; Jinjava's default would evaluate it);</li>
 *   <li>trim/lstrip blocks, Jinja2 map-literal keys and iteration over map keys, whitespace control on
 *       expressions and comments, the template's line breaks normalised and one trailing newline of the
 *       template dropped (Jinja2's lexer); Jinjava's legacy operator precedence is kept because its "natural"
 *       one parses {@code not x is defined} as {@code (not x) is defined}, which the DeepSeek templates use;</li>
 *   <li>Python-compatible {@code tojson} ({@link PythonJson}), Python {@code str} methods
 *       ({@link PythonStringMethods}), {@code True}/{@code False} when a boolean is printed;</li>
 *   <li>{@code raise_exception(msg)} aborts rendering with a {@link ChatTemplateException} carrying msg, as do
 *       syntax and evaluation errors (Jinjava would otherwise only record them and carry on).</li>
 * </ul>
 * Known remaining differences from Jinja2, none of which the DeepSeek templates touch (the golden tests in
 * {@code ChatTemplateGoldenTest} pin everything else): a printed {@code none} is empty (Jinja2: {@code None});
 * booleans and none inside a printed list or dict appear as {@code true}/{@code null}; an undefined variable
 * {@code is none} (Jinja2: only defined-as-None); {@code tools}/{@code documents} are undefined unless given in
 * {@code extra} (transformers passes None); {@code 'ab' * 2} and integer literals beyond 64 bits are errors;
 * operations Python rejects (e.g. {@code 'a' + none}) do not raise.
 *
 * <p>Thread-safe: one immutable Jinjava environment, each render gets its own interpreter.
 */
public final class ChatTemplate {
    private final String source;
    private final String jinja2Source;
    private final Map<String, Object> specialTokens;
    private final Jinjava jinjava;

    /**
     * A template from its Jinja source. {@link HfTokenizer#chatTemplate()} builds the model's own; this
     * constructor is for templates supplied elsewhere (a request, a command-line override).
     *
     * @param specialTokens template variables such as {@code bos_token} and {@code eos_token}
     */
    public ChatTemplate(String source, Map<String, Object> specialTokens) {
        this.source = source;
        this.jinja2Source = jinja2Source(source);
        this.specialTokens = Map.copyOf(specialTokens);
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withNestedInterpretationEnabled(false)
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withKeepTrailingNewline(true) // Jinja2's rule is applied to the source instead, see jinja2Source
                .withFailOnUnknownTokens(false)
                .withElResolver(resolver)
                .withInterperterFactory(new PythonicInterpreterFactory())
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withUsePyishObjectMapper(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withAllowAdjacentTextNodes(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .build();
        this.jinjava = new Jinjava(config);
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                ChatTemplate.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                ChatTemplate.class, "strftimeNow", String.class));
        jinjava.getGlobalContext().registerFilter(new ToJsonFilter());
    }

    /** The Jinja source. */
    public String source() {
        return source;
    }

    /**
     * Renders a conversation.
     *
     * @param extra further template variables (e.g. {@code tools}; may be null); they override the special
     *              tokens but not {@code messages} or {@code add_generation_prompt}
     * @throws ChatTemplateException when the template raises or fails
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        messages.forEach(m -> maps.add(m.toMap()));
        return renderMaps(maps, addGenerationPrompt, extra);
    }

    /**
     * Renders a conversation given as dicts (the OpenAI JSON form: {@code role}, {@code content},
     * {@code tool_calls}, ...). A separate name from {@link #render} because both lists erase to {@code List}.
     */
    public String renderMaps(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt,
                             Map<String, Object> extra) {
        Map<String, Object> context = new LinkedHashMap<>(specialTokens);
        if (extra != null) {
            context.putAll(extra);
        }
        context.put("messages", copy(messages));
        context.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result = jinjava.renderForResult(jinja2Source, context);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() != TemplateError.ErrorType.FATAL) {
                continue;
            }
            for (Throwable t = error.getException(); t != null; t = t.getCause()) {
                if (t instanceof TemplateRaised raised) {
                    throw new ChatTemplateException("chat template raised: " + raised.getMessage());
                }
            }
            throw new ChatTemplateException("chat template error at line " + error.getLineno() + ": "
                    + error.getMessage(), error.getException());
        }
        return result.getOutput();
    }

    /**
     * The source as Jinja2's lexer sees it: line breaks ({@code \r\n}, {@code \r}, {@code \n}) normalised to
     * {@code \n}, and one trailing line break dropped ({@code keep_trailing_newline=False}). Jinjava's own
     * trailing-newline option strips the rendered output instead, which differs when the output ends with a
     * newline that an expression printed.
     */
    static String jinja2Source(String source) {
        String normalized = source.replace("\r\n", "\n").replace('\r', '\n');
        return normalized.endsWith("\n") ? normalized.substring(0, normalized.length() - 1) : normalized;
    }

    /** Deep mutable copy of maps/lists so the template sees plain dicts and lists (and cannot touch ours). */
    private static Object copy(Object value) {
        if (value instanceof Map<?, ?> map) {
            Map<String, Object> out = new LinkedHashMap<>();
            map.forEach((k, v) -> out.put(String.valueOf(k), copy(v)));
            return out;
        }
        if (value instanceof Collection<?> list) {
            List<Object> out = new ArrayList<>(list.size());
            list.forEach(v -> out.add(copy(v)));
            return out;
        }
        return value;
    }

    /**
     * The template function {@code raise_exception(message)} (public only because Jinjava invokes template
     * functions reflectively): aborts the render; {@link #renderMaps} reports it as a ChatTemplateException.
     */
    public static String raiseException(String message) {
        throw new TemplateRaised(message);
    }

    /** The template function {@code strftime_now(format)}: local time in Python's strftime directives. */
    public static String strftimeNow(String format) {
        return StrftimeFormatter.format(ZonedDateTime.now(), format, Locale.US);
    }

    private static final class TemplateRaised extends RuntimeException {
        TemplateRaised(String message) {
            super(message, null, false, false);
        }
    }

    /** transformers' {@code tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)}. */
    private static final class ToJsonFilter implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object ensureAscii = kwargs.getOrDefault("ensure_ascii", args.length > 0 ? args[0] : false);
            Object indent = kwargs.getOrDefault("indent", args.length > 1 ? args[1] : null);
            Object separators = kwargs.getOrDefault("separators", args.length > 2 ? args[2] : null);
            Object sortKeys = kwargs.getOrDefault("sort_keys", args.length > 3 ? args[3] : false);
            String indentText = indent == null ? null
                    : indent instanceof Number n ? " ".repeat(n.intValue()) : indent.toString();
            String[] separatorPair = null;
            if (separators instanceof List<?> list && list.size() == 2) {
                separatorPair = new String[] {String.valueOf(list.get(0)), String.valueOf(list.get(1))};
            }
            return new PythonJson(Boolean.TRUE.equals(ensureAscii), indentText, separatorPair,
                    Boolean.TRUE.equals(sortKeys)).dumps(var);
        }
    }

    /** Prints booleans as Python does ({@code True}/{@code False}); Jinjava would print {@code true}. */
    private static final class PythonicInterpreter extends JinjavaInterpreter {
        PythonicInterpreter(Jinjava application, Context context, JinjavaConfig config) {
            super(application, context, config);
        }

        PythonicInterpreter(JinjavaInterpreter original) {
            super(original);
        }

        @Override
        public String getAsString(Object object) {
            if (object instanceof Boolean b) {
                return b ? "True" : "False";
            }
            return super.getAsString(object);
        }
    }

    private static final class PythonicInterpreterFactory implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter original) {
            return new PythonicInterpreter(original);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig config) {
            return new PythonicInterpreter(application, context, config);
        }
    }
}

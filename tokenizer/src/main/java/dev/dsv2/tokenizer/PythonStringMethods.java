package dev.dsv2.tokenizer;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python {@code str} methods for Jinjava, so that chat templates written for Jinja2 can call
 * {@code content.strip()}, {@code content.split('</think>')[-1]}, {@code role.startswith('tool')} and the
 * like with Python's results (Java's {@code String.split} takes a regex and returns an array; Java has no
 * {@code startswith}). Supported: {@code strip lstrip rstrip split rsplit splitlines startswith endswith
 * lower upper title capitalize replace find rfind count join}. Whitespace is Python's {@code str.isspace}.
 *
 * <p>An {@link ELResolver} placed before Jinjava's default resolvers; it resolves only method calls on
 * strings with these names and leaves everything else (properties, maps, lists) to the defaults.
 */
final class PythonStringMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || method == null) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        Object result;
        switch (method.toString()) {
            case "strip" -> result = strip(s, arg(args, 0), true, true);
            case "lstrip" -> result = strip(s, arg(args, 0), true, false);
            case "rstrip" -> result = strip(s, arg(args, 0), false, true);
            case "split" -> result = split(s, arg(args, 0), maxSplit(args), false);
            case "rsplit" -> result = split(s, arg(args, 0), maxSplit(args), true);
            case "splitlines" -> result = splitLines(s);
            case "startswith" -> result = affix(s, args, true);
            case "endswith" -> result = affix(s, args, false);
            case "lower" -> result = s.toLowerCase(java.util.Locale.ROOT);
            case "upper" -> result = s.toUpperCase(java.util.Locale.ROOT);
            case "title" -> result = title(s);
            case "capitalize" -> result = s.isEmpty() ? s
                    : s.substring(0, 1).toUpperCase(java.util.Locale.ROOT) + s.substring(1).toLowerCase(java.util.Locale.ROOT);
            case "replace" -> result = replace(s, str(args, 0), str(args, 1), args.length > 2 ? toInt(args[2]) : -1);
            case "find" -> result = (long) s.indexOf(str(args, 0));
            case "rfind" -> result = (long) s.lastIndexOf(str(args, 0));
            case "count" -> result = (long) count(s, str(args, 0));
            case "join" -> result = join(s, args.length > 0 ? args[0] : List.of());
            default -> {
                return null;
            }
        }
        context.setPropertyResolved(true);
        return result;
    }

    /** Python's {@code str.isspace} for one character. */
    static boolean isPythonSpace(char c) {
        return (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0x2028 || c == 0x2029
                || Character.getType(c) == Character.SPACE_SEPARATOR;
    }

    private static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.charAt(start), chars)) {
            start++;
        }
        while (right && end > start && stripped(s.charAt(end - 1), chars)) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? isPythonSpace(c) : chars.indexOf(c) >= 0;
    }

    private static List<String> split(String s, String sep, int maxSplit, boolean fromRight) {
        List<String> parts = new ArrayList<>();
        if (sep == null) { // runs of whitespace, no empty strings
            List<int[]> words = new ArrayList<>();
            int i = 0;
            while (i < s.length()) {
                while (i < s.length() && isPythonSpace(s.charAt(i))) {
                    i++;
                }
                int start = i;
                while (i < s.length() && !isPythonSpace(s.charAt(i))) {
                    i++;
                }
                if (i > start) {
                    words.add(new int[] {start, i});
                }
            }
            if (maxSplit < 0 || words.size() <= maxSplit + 1) {
                words.forEach(w -> parts.add(s.substring(w[0], w[1])));
            } else if (!fromRight) {
                for (int k = 0; k < maxSplit; k++) {
                    parts.add(s.substring(words.get(k)[0], words.get(k)[1]));
                }
                parts.add(strip(s.substring(words.get(maxSplit)[0]), null, false, true));
            } else {
                int keep = words.size() - maxSplit;
                parts.add(strip(s.substring(0, words.get(keep - 1)[1]), null, true, false));
                for (int k = keep; k < words.size(); k++) {
                    parts.add(s.substring(words.get(k)[0], words.get(k)[1]));
                }
            }
            return parts;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        if (!fromRight) {
            int start = 0;
            int idx;
            while ((maxSplit < 0 || parts.size() < maxSplit) && (idx = s.indexOf(sep, start)) >= 0) {
                parts.add(s.substring(start, idx));
                start = idx + sep.length();
            }
            parts.add(s.substring(start));
            return parts;
        }
        int end = s.length();
        while (maxSplit < 0 || parts.size() < maxSplit) {
            int idx = s.lastIndexOf(sep, end - sep.length());
            if (idx < 0) {
                break;
            }
            parts.add(s.substring(idx + sep.length(), end));
            end = idx;
        }
        parts.add(s.substring(0, end));
        Collections.reverse(parts);
        return parts;
    }

    /** Python's {@code str.splitlines()}: breaks at \n \r \r\n \v \f \x1c-\x1e \x85 U+2028 U+2029. */
    private static List<String> splitLines(String s) {
        List<String> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean lineBreak = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E)
                    || c == 0x85 || c == 0x2028 || c == 0x2029;
            if (lineBreak) {
                lines.add(s.substring(start, i));
                if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < s.length()) {
            lines.add(s.substring(start));
        }
        return lines;
    }

    private static boolean affix(String s, Object[] args, boolean prefix) {
        Object arg = args.length > 0 ? args[0] : "";
        Collection<?> options = arg instanceof Collection<?> c ? c : List.of(String.valueOf(arg));
        for (Object o : options) {
            String a = String.valueOf(o);
            if (prefix ? s.startsWith(a) : s.endsWith(a)) {
                return true;
            }
        }
        return false;
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean cased = Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c);
            out.append(cased ? (previousCased ? Character.toLowerCase(c) : Character.toTitleCase(c)) : c);
            previousCased = cased;
        }
        return out.toString();
    }

    private static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder out = new StringBuilder();
        int start = 0;
        int idx;
        int done = 0;
        while (done < count && (idx = s.indexOf(old, start)) >= 0) {
            out.append(s, start, idx).append(replacement);
            start = idx + old.length();
            done++;
            if (old.isEmpty()) {
                if (start < s.length()) {
                    out.append(s.charAt(start));
                }
                start++;
                if (start > s.length()) {
                    return out.toString();
                }
            }
        }
        return out.append(s.substring(Math.min(start, s.length()))).toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1;
        }
        int n = 0;
        for (int idx = s.indexOf(sub); idx >= 0; idx = s.indexOf(sub, idx + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String separator, Object items) {
        Iterable<?> iterable = items instanceof Iterable<?> it ? it
                : items instanceof Object[] array ? List.of(array) : List.of(String.valueOf(items));
        StringBuilder out = new StringBuilder();
        boolean first = true;
        for (Object item : iterable) {
            if (!first) {
                out.append(separator);
            }
            out.append(item);
            first = false;
        }
        return out.toString();
    }

    private static String arg(Object[] args, int i) {
        return i < args.length && args[i] != null ? String.valueOf(args[i]) : null;
    }

    private static String str(Object[] args, int i) {
        if (i >= args.length || args[i] == null) {
            throw new IllegalArgumentException("missing string argument " + (i + 1));
        }
        return String.valueOf(args[i]);
    }

    private static int maxSplit(Object[] args) {
        return args.length > 1 && args[1] != null ? toInt(args[1]) : -1;
    }

    private static int toInt(Object o) {
        return o instanceof Number n ? n.intValue() : Integer.parseInt(String.valueOf(o));
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return Collections.emptyIterator();
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}

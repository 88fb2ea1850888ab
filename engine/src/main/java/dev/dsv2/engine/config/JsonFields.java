package dev.dsv2.engine.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.function.Predicate;

/**
 * Typed reads of a JSON object's fields with defaults, for {@code config.json}: a missing key (or JSON null, except
 * for integers) gives the default, a value of the wrong JSON type is a {@link ConfigException} naming the source,
 * the key and the value.
 */
record JsonFields(JsonNode node, String source) {

    String str(String key, String dflt) {
        JsonNode v = present(key, JsonNode::isTextual, "a string");
        return v == null ? dflt : v.asText();
    }

    double dbl(String key, double dflt) {
        JsonNode v = present(key, JsonNode::isNumber, "a number");
        return v == null ? dflt : v.asDouble();
    }

    boolean bool(String key, boolean dflt) {
        JsonNode v = present(key, JsonNode::isBoolean, "true or false");
        return v == null ? dflt : v.asBoolean();
    }

    /** A whole number in int range ({@code 4096} or {@code 4096.0}); JSON null is an error (a size the model needs). */
    int integer(String key, int dflt) {
        JsonNode v = node.get(key);
        if (v == null) {
            return dflt;
        }
        boolean whole = v.isIntegralNumber() || (v.isNumber() && v.asDouble() == Math.rint(v.asDouble()));
        if (!whole || !v.canConvertToInt()) {
            // canConvertToInt: a value beyond int range must not wrap around silently
            throw typeError(key, v, "an integer");
        }
        return v.asInt();
    }

    /** An integer that may be JSON null; null maps to 0 ("absent"), a missing key to {@code dflt}. */
    int nullableInt(String key, int dflt) {
        JsonNode v = node.get(key);
        if (v != null && v.isNull()) {
            return 0;
        }
        return integer(key, dflt);
    }

    /** The value of {@code key}, or null when it is missing or JSON null; a present value must pass {@code ok}. */
    private JsonNode present(String key, Predicate<JsonNode> ok, String expected) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!ok.test(v)) {
            throw typeError(key, v, expected);
        }
        return v;
    }

    private ConfigException typeError(String key, JsonNode v, String expected) {
        return new ConfigException(source + ": field " + key + "=" + v + " is not " + expected);
    }
}

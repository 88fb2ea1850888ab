package dev.dsv2.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dsv2.gateway.core.ApiError;
import dev.dsv2.gateway.core.Prompts;

import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * Typed reads of an OpenAI request body's top-level fields. A missing field and an explicit {@code null} both mean
 * "not given"; a value of the wrong type is a 400 naming the field, in the words the OpenAI API uses.
 */
final class JsonParams {
    private final JsonNode body;

    JsonParams(JsonNode body) {
        this.body = body;
    }

    JsonNode get(String field) {
        JsonNode v = body.get(field);
        return v == null || v.isNull() ? null : v;
    }

    boolean has(String field) {
        return get(field) != null;
    }

    static ApiError wrongType(String field, String expected, JsonNode got) {
        return ApiError.invalid(field, "Invalid type for '" + field + "': expected " + expected + ", but got "
                + describe(got) + " instead.");
    }

    static String describe(JsonNode v) {
        if (v.isTextual()) {
            return "a string";
        }
        if (v.isBoolean()) {
            return "a boolean";
        }
        if (v.isIntegralNumber()) {
            return "an integer";
        }
        if (v.isNumber()) {
            return "a decimal";
        }
        if (v.isArray()) {
            return "an array";
        }
        return v.isObject() ? "an object" : v.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
    }

    Optional<String> string(String field) {
        JsonNode v = get(field);
        if (v == null) {
            return Optional.empty();
        }
        if (!v.isTextual()) {
            throw wrongType(field, "a string", v);
        }
        return Optional.of(v.textValue());
    }

    boolean bool(String field, boolean fallback) {
        JsonNode v = get(field);
        if (v == null) {
            return fallback;
        }
        if (!v.isBoolean()) {
            throw wrongType(field, "a boolean", v);
        }
        return v.booleanValue();
    }

    OptionalDouble number(String field) {
        JsonNode v = get(field);
        if (v == null) {
            return OptionalDouble.empty();
        }
        if (!v.isNumber()) {
            throw wrongType(field, "a number", v);
        }
        return OptionalDouble.of(v.doubleValue());
    }

    /** A number within [min, max] (both inclusive unless {@code minExclusive}). */
    OptionalDouble number(String field, double min, boolean minExclusive, double max) {
        OptionalDouble v = number(field);
        if (v.isPresent()) {
            double x = v.getAsDouble();
            if (!(minExclusive ? x > min : x >= min) || !(x <= max) || Double.isNaN(x)) {
                throw ApiError.invalid(field, field + " must be in " + (minExclusive ? "(" : "[") + fmt(min) + ", "
                        + fmt(max) + "], got " + fmt(x));
            }
        }
        return v;
    }

    OptionalLong integer(String field) {
        JsonNode v = get(field);
        if (v == null) {
            return OptionalLong.empty();
        }
        if (v.isIntegralNumber() && v.canConvertToLong()) {
            return OptionalLong.of(v.longValue());
        }
        if (v.isIntegralNumber()) {
            throw ApiError.invalid(field, field + " is out of range: " + Prompts.clip(
                    v.asText()) + " does not fit a 64-bit integer");
        }
        if (v.isNumber() && v.doubleValue() == Math.rint(v.doubleValue()) && Math.abs(v.doubleValue()) < 1e18) {
            return OptionalLong.of((long) v.doubleValue());
        }
        throw wrongType(field, "an integer", v);
    }

    /** An int within [min, max]. */
    OptionalInt integer(String field, long min, long max) {
        OptionalLong v = integer(field);
        if (v.isEmpty()) {
            return OptionalInt.empty();
        }
        long x = v.getAsLong();
        if (x < min || x > max) {
            throw ApiError.invalid(field, field + " must be " + (max == Integer.MAX_VALUE && x < min ? ">= " + min
                    : "in [" + min + ", " + max + "]") + ", got " + x);
        }
        return OptionalInt.of((int) x);
    }

    static String fmt(double x) {
        return x == Math.rint(x) && Math.abs(x) < 1e15 ? Long.toString((long) x) : Double.toString(x);
    }
}

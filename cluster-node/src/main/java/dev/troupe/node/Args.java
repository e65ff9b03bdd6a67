package dev.troupe.node;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Command-line options of the form {@code --name value}; every name must be one the command knows. */
final class Args {
    /** A usage error: the message is shown with the command's help, and the exit code is 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) { super(message); }
    }

    private final Map<String, String> values = new LinkedHashMap<>();
    private final Map<String, List<String>> repeated = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();

    Args(String[] argv, int from, Set<String> known, Set<String> flags) {
        for (int i = from; i < argv.length; i++) {
            String a = argv[i];
            if (a.startsWith("--")) {
                String name = a.substring(2);
                String value = null;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (!known.contains(name) && !flags.contains(name)) throw new UsageException("unknown option --" + name);
                if (flags.contains(name)) {
                    values.put(name, value == null ? "true" : value);
                    continue;
                }
                if (value == null) {
                    if (i + 1 >= argv.length) throw new UsageException("option --" + name + " needs a value");
                    value = argv[++i];
                }
                values.put(name, value);
                repeated.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
            } else {
                positional.add(a);
            }
        }
    }

    List<String> positional() { return positional; }

    boolean has(String name) { return values.containsKey(name); }

    /** Every value of an option that may repeat, in order (empty when absent); the other accessors see the last. */
    List<String> all(String name) { return repeated.getOrDefault(name, List.of()); }

    String string(String name, String fallback) { return values.getOrDefault(name, fallback); }

    String required(String name) {
        String v = values.get(name);
        if (v == null) throw new UsageException("missing required option --" + name);
        return v;
    }

    int integer(String name, int fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be a whole number, got '" + v + "'");
        }
    }

    long longValue(String name) {
        String v = required(name);
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be a whole number, got '" + v + "'");
        }
    }

    float number(String name, float fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        try {
            return Float.parseFloat(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be a number, got '" + v + "'");
        }
    }

    int[] integers(String name, int[] fallback) {
        String v = values.get(name);
        if (v == null) return fallback;
        String[] parts = v.split(",");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new UsageException("--" + name + " must be a comma-separated list of whole numbers, got '" + v + "'");
            }
        }
        return out;
    }
}

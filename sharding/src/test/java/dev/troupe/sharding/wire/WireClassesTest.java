package dev.troupe.sharding.wire;

import static org.junit.jupiter.api.Assertions.*;

import dev.troupe.actors.registry.JsonSerializable;
import dev.troupe.actors.wire.CrossNode;
import java.io.IOException;
import java.lang.reflect.Modifier;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Forgetting a registration fails the build: every concrete {@code dev.troupe} class of the main code on
 * this module's class path (the actors and sharding modules and what they depend on) that implements
 * {@link CrossNode} must be in {@link WireClasses}.
 */
class WireClassesTest {

    @Test
    void everyCrossNodeClassIsRegistered() throws Exception {
        Set<Class<?>> registered = new HashSet<>();
        WireClasses.ALL.forEach(e -> registered.add(e.type()));
        List<Class<?>> classes = mainClasses();
        Set<String> missing = new TreeSet<>();
        int crossNode = 0;
        for (Class<?> c : classes) {
            if (!CrossNode.class.isAssignableFrom(c) || c.isInterface() || Modifier.isAbstract(c.getModifiers())) continue;
            crossNode++;
            if (!registered.contains(c)) missing.add(c.getName());
        }
        assertTrue(classes.stream().anyMatch(c -> c == dev.troupe.actors.tenant.Tenant.class), "the scan did not see the actors module");
        assertTrue(crossNode >= 25, "the scan found only " + crossNode + " CrossNode classes");
        assertEquals(Set.of(), missing, "CrossNode classes missing from WireClasses.ALL");
    }

    @Test
    void noClassIsBothCrossNodeAndJournalJson() throws Exception {
        List<String> both = mainClasses().stream()
                .filter(c -> CrossNode.class.isAssignableFrom(c) && JsonSerializable.class.isAssignableFrom(c))
                .map(Class::getName).sorted().toList();
        assertEquals(List.of(), both, "bound to two serializers");
    }

    @Test
    void idsAreUniqueAndAboveKryosOwn() {
        Set<Integer> ids = new HashSet<>();
        for (WireClasses.Entry e : WireClasses.ALL) {
            assertTrue(e.id() >= WireClasses.FIRST_ID, e.toString());
            assertTrue(ids.add(e.id()), "id used twice: " + e);
        }
    }

    /** The classes under dev/troupe in every class path root except test output, loaded without initialising them. */
    static List<Class<?>> mainClasses() throws IOException, URISyntaxException {
        Set<String> names = new TreeSet<>();
        for (URL root : Collections.list(WireClassesTest.class.getClassLoader().getResources("dev/troupe"))) {
            if (root.getPath().contains("/test-classes/")) continue;
            if (root.getProtocol().equals("file")) {
                Path dir = Path.of(root.toURI());
                Path base = dir.getParent().getParent();
                try (Stream<Path> files = Files.walk(dir)) {
                    files.filter(f -> f.toString().endsWith(".class"))
                            .forEach(f -> names.add(className(base.relativize(f).toString().replace('\\', '/'))));
                }
            } else if (root.getProtocol().equals("jar")) {
                JarURLConnection connection = (JarURLConnection) root.openConnection();
                connection.setUseCaches(false); // closing a cached JarFile would break the class loader's own copy
                try (JarFile jar = connection.getJarFile()) {
                    jar.stream().map(e -> e.getName())
                            .filter(n -> n.startsWith("dev/troupe/") && n.endsWith(".class"))
                            .forEach(n -> names.add(className(n)));
                }
            }
        }
        List<Class<?>> out = new ArrayList<>();
        for (String n : names) {
            if (n.endsWith("module-info") || n.endsWith("package-info")) continue;
            try {
                out.add(Class.forName(n, false, WireClassesTest.class.getClassLoader()));
            } catch (ClassNotFoundException | LinkageError e) {
                // A class whose optional dependency is absent cannot be a message here either.
            }
        }
        return out;
    }

    private static String className(String path) {
        return path.substring(0, path.length() - ".class".length()).replace('/', '.');
    }
}

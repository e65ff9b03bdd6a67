package dev.troupe.actors.tenant;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tenant API keys: {@code tk-<keyId>-<secret>}, where {@code keyId} is 12 random bytes as 24 lowercase hex
 * digits (public: it names the key in the admin API and lets authentication find the tenant without a scan)
 * and {@code secret} is 32 random bytes (256 bits, {@link SecureRandom}) in unpadded base64url.
 *
 * <p>Only a random 16-byte salt and {@code SHA-256(salt || secret)} are stored. A single fast hash is the
 * right tool here: a slow password KDF (bcrypt, scrypt, PBKDF2) exists to make guessing low-entropy human
 * passwords expensive, but a 256-bit random secret cannot be guessed at any hash speed, while a KDF would
 * cost tens of milliseconds on every API request. The salt keeps equal secrets (never expected) and
 * precomputed tables from matching across stores. Hashes are compared in constant time.
 */
public final class ApiKeys {
    public static final String PREFIX = "tk-";
    private static final Pattern FORMAT = Pattern.compile("tk-([0-9a-f]{24})-([A-Za-z0-9_-]{43})");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
    private static final HexFormat HEX = HexFormat.of();

    private ApiKeys() {}

    /** A fresh key: the full key (to show once) and what may be stored. */
    public record Issued(String keyId, String key, String salt, String hash) {
        @Override
        public String toString() {
            return "Issued[keyId=" + keyId + ", key=<hidden>]";   // never print the key by accident
        }
    }

    /** A presented key split into its parts; the secret stays in memory only as long as the check. */
    public record Parsed(String keyId, String secret) {
        @Override
        public String toString() {
            return "Parsed[keyId=" + keyId + "]";
        }
    }

    public static Issued issue() {
        byte[] id = new byte[12];
        byte[] secret = new byte[32];
        byte[] salt = new byte[16];
        RANDOM.nextBytes(id);
        RANDOM.nextBytes(secret);
        RANDOM.nextBytes(salt);
        String keyId = HEX.formatHex(id);
        String secretText = B64.encodeToString(secret);
        String saltText = B64.encodeToString(salt);
        return new Issued(keyId, PREFIX + keyId + "-" + secretText, saltText, hash(saltText, secretText));
    }

    /** The key's parts, or null when it is not a Troupe key at all. */
    public static Parsed parse(String key) {
        if (key == null) return null;
        Matcher m = FORMAT.matcher(key);
        return m.matches() ? new Parsed(m.group(1), m.group(2)) : null;
    }

    /** {@code base64url(SHA-256(salt || secret))}, salt and secret as their base64url text. */
    public static String hash(String salt, String secret) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(salt.getBytes(StandardCharsets.US_ASCII));
            md.update(secret.getBytes(StandardCharsets.US_ASCII));
            return B64.encodeToString(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Whether the secret hashes to the stored hash, compared in constant time. */
    public static boolean matches(String salt, String storedHash, String secret) {
        byte[] expected = storedHash.getBytes(StandardCharsets.US_ASCII);
        byte[] actual = hash(salt, secret).getBytes(StandardCharsets.US_ASCII);
        return MessageDigest.isEqual(expected, actual);
    }
}

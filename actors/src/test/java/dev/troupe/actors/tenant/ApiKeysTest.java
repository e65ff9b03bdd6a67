package dev.troupe.actors.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ApiKeysTest {
    @Test
    void issuedKeysParseAndMatchOnlyTheirHash() {
        ApiKeys.Issued a = ApiKeys.issue();
        ApiKeys.Issued b = ApiKeys.issue();
        assertTrue(a.key().matches("tk-[0-9a-f]{24}-[A-Za-z0-9_-]{43}"), a.keyId());
        assertNotEquals(a.keyId(), b.keyId());
        assertNotEquals(a.salt(), b.salt());
        ApiKeys.Parsed p = ApiKeys.parse(a.key());
        assertEquals(a.keyId(), p.keyId());
        assertTrue(ApiKeys.matches(a.salt(), a.hash(), p.secret()));
        assertFalse(ApiKeys.matches(a.salt(), a.hash(), ApiKeys.parse(b.key()).secret()));
        assertFalse(ApiKeys.matches(b.salt(), a.hash(), p.secret()), "the salt is part of the hash");
        assertFalse(a.toString().contains(p.secret()), "toString hides the key");
        assertFalse(a.hash().contains(p.secret()));
    }

    @Test
    void otherStringsAreNotKeys() {
        assertNull(ApiKeys.parse(null));
        assertNull(ApiKeys.parse(""));
        assertNull(ApiKeys.parse("sk-abc"));
        assertNull(ApiKeys.parse("tk-0123-abc"));
        String k = ApiKeys.issue().key();
        assertNull(ApiKeys.parse(k + "x"));
        assertNull(ApiKeys.parse(" " + k));
    }
}

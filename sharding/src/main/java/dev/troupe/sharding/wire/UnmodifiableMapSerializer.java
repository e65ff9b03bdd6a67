package dev.troupe.sharding.wire;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code Collections.unmodifiableMap(...)}: Kryo's map serializer would create the read-only wrapper empty
 * and fail to fill it. Written as its entries, read back as a read-only map with the same iteration order
 * (the wrapped map's own class, e.g. TreeMap, is not kept: the entities' records re-sort in their
 * constructors).
 */
final class UnmodifiableMapSerializer extends Serializer<Map<Object, Object>> {

    UnmodifiableMapSerializer() {
        super(false, true);
    }

    @Override
    public void write(Kryo kryo, Output output, Map<Object, Object> map) {
        output.writeVarInt(map.size(), true);
        for (Map.Entry<Object, Object> e : map.entrySet()) {
            kryo.writeClassAndObject(output, e.getKey());
            kryo.writeClassAndObject(output, e.getValue());
        }
    }

    @Override
    public Map<Object, Object> read(Kryo kryo, Input input, Class<? extends Map<Object, Object>> type) {
        int size = input.readVarInt(true);
        // Each entry takes at least two bytes: a forged size cannot make us allocate more than the message holds.
        if (size > input.limit() - input.position()) throw new com.esotericsoftware.kryo.KryoException("map size " + size + " exceeds the message");
        Map<Object, Object> map = new LinkedHashMap<>(size * 2);
        for (int i = 0; i < size; i++) map.put(kryo.readClassAndObject(input), kryo.readClassAndObject(input));
        return Collections.unmodifiableMap(map);
    }
}

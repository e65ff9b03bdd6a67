package dev.troupe.node;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A minimal blocking HTTP/1.1 client over one keep-alive connection, for measuring the server: the JDK's
 * HttpClient alone costs about 2 ms per request on these VMs (its thread hand-offs), more than the server
 * path it would measure. Handles Content-Length responses only (what the node sends for plain JSON).
 */
final class RawHttpClient implements AutoCloseable {
    record Response(int status, java.util.Map<String, String> headers, String body) {
        /** A header's value by its lower-case name, or null. */
        String header(String lowerCaseName) {
            return headers.get(lowerCaseName);
        }
    }

    private final String host;
    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;

    RawHttpClient(String host, int port) throws IOException {
        this.host = host;
        this.socket = new Socket(host, port);
        socket.setTcpNoDelay(true);
        this.out = socket.getOutputStream();
        this.in = new BufferedInputStream(socket.getInputStream());
    }

    Response get(String path) throws IOException {
        return send("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n", null);
    }

    Response postJson(String path, String json) throws IOException {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return send("POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length + "\r\n\r\n", body);
    }

    private Response send(String head, byte[] body) throws IOException {
        // One write: a request split over two TCP segments makes the server stream the body in.
        byte[] headBytes = head.getBytes(StandardCharsets.US_ASCII);
        byte[] all = java.util.Arrays.copyOf(headBytes, headBytes.length + (body == null ? 0 : body.length));
        if (body != null) System.arraycopy(body, 0, all, headBytes.length, body.length);
        out.write(all);
        out.flush();
        String status = line();
        int code = Integer.parseInt(status.substring(9, 12));
        java.util.Map<String, String> headers = new java.util.HashMap<>();
        for (String h; !(h = line()).isEmpty(); ) {
            int colon = h.indexOf(':');
            if (colon > 0) headers.put(h.substring(0, colon).trim().toLowerCase(java.util.Locale.ROOT), h.substring(colon + 1).trim());
        }
        String length = headers.get("content-length");
        if (length == null) throw new IOException("the response has no Content-Length: " + status);
        byte[] b = in.readNBytes(Integer.parseInt(length));
        return new Response(code, headers, new String(b, StandardCharsets.UTF_8));
    }

    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream(64);
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) throw new IOException("connection closed");
            if (c != '\r') b.write(c);
        }
        return b.toString(StandardCharsets.US_ASCII);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}

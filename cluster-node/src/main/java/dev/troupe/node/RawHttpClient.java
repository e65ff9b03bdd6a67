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
    record Response(int status, String body) {}

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
        out.write(head.getBytes(StandardCharsets.US_ASCII));
        if (body != null) out.write(body);
        out.flush();
        String status = line();
        int code = Integer.parseInt(status.substring(9, 12));
        int length = -1;
        for (String h; !(h = line()).isEmpty(); ) {
            if (h.regionMatches(true, 0, "Content-Length:", 0, 15)) length = Integer.parseInt(h.substring(15).trim());
        }
        if (length < 0) throw new IOException("the response has no Content-Length: " + status);
        byte[] b = in.readNBytes(length);
        return new Response(code, new String(b, StandardCharsets.UTF_8));
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

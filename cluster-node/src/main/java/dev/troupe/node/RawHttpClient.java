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
 * path it would measure. Handles Content-Length responses (plain JSON) and chunked ones (Server-Sent
 * Events, handed over a line at a time as they arrive).
 */
final class RawHttpClient implements AutoCloseable {
    record Response(int status, java.util.Map<String, String> headers, String body) {
        /** A header's value by its lower-case name, or null. */
        String header(String lowerCaseName) {
            return headers.get(lowerCaseName);
        }
    }

    private final String host;
    private final int port;
    private Socket socket;
    private OutputStream out;
    private InputStream in;
    private boolean reused;   // a request has gone over this connection

    RawHttpClient(String host, int port) throws IOException {
        this.host = host;
        this.port = port;
        connect();
    }

    private void connect() throws IOException {
        socket = new Socket(host, port);
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(300_000); // a node that stops answering fails the request instead of hanging the bench
        out = socket.getOutputStream();
        in = new BufferedInputStream(socket.getInputStream());
        reused = false;
    }

    Response get(String path) throws IOException {
        return send("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n", null);
    }

    Response postJson(String path, String json) throws IOException {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return send(postHead(path, body.length), body);
    }

    private String postHead(String path, int bodyLength) {
        return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: "
                + bodyLength + "\r\n\r\n";
    }

    /**
     * POSTs json and hands each line of the response body to onLine as it arrives (a chunked SSE stream,
     * or a plain body split at newlines); returns the status code once the body has ended.
     */
    int postStreaming(String path, String json, java.util.function.Consumer<String> onLine) throws IOException {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        java.util.Map<String, String> headers = new java.util.HashMap<>();
        int code = request(postHead(path, body.length), body, headers);
        ByteArrayOutputStream partial = new ByteArrayOutputStream(256);
        if (!"chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            String length = headers.get("content-length");
            if (length == null) throw new IOException("the response has neither Content-Length nor chunks");
            splitLines(in.readNBytes(Integer.parseInt(length)), partial, onLine);
        } else {
            for (int size; (size = Integer.parseInt(line().split(";", 2)[0].trim(), 16)) > 0; ) {
                splitLines(in.readNBytes(size), partial, onLine);
                line(); // the CRLF after each chunk
            }
            while (!line().isEmpty()) { } // trailers, then the last CRLF
        }
        if (partial.size() > 0) onLine.accept(partial.toString(StandardCharsets.UTF_8));
        return code;
    }

    private static void splitLines(byte[] bytes, ByteArrayOutputStream partial, java.util.function.Consumer<String> onLine) {
        int from = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] != '\n') continue;
            partial.write(bytes, from, i - from);
            String l = partial.toString(StandardCharsets.UTF_8);
            onLine.accept(l.endsWith("\r") ? l.substring(0, l.length() - 1) : l);
            partial.reset();
            from = i + 1;
        }
        partial.write(bytes, from, bytes.length - from);
    }

    /** Writes a request and reads the status line and headers (lower-case names into headers). */
    private int request(String head, byte[] body, java.util.Map<String, String> headers) throws IOException {
        // One write: a request split over two TCP segments makes the server stream the body in.
        byte[] headBytes = head.getBytes(StandardCharsets.US_ASCII);
        byte[] all = java.util.Arrays.copyOf(headBytes, headBytes.length + (body == null ? 0 : body.length));
        if (body != null) System.arraycopy(body, 0, all, headBytes.length, body.length);
        boolean sent = false;
        if (reused) {
            // The server may have closed the kept-alive connection between requests (llama.cpp's server does
            // after a stream); then this request was never read, and goes again on a new connection.
            try {
                out.write(all);
                out.flush();
                sent = responseStarts();
            } catch (IOException e) {
                // closed under the write: not sent
            }
            if (!sent) {
                socket.close();
                connect();
            }
        }
        if (!sent) {
            out.write(all);
            out.flush();
        }
        reused = true;
        String status = line();
        int code = Integer.parseInt(status.substring(9, 12));
        for (String h; !(h = line()).isEmpty(); ) {
            int colon = h.indexOf(':');
            if (colon > 0) headers.put(h.substring(0, colon).trim().toLowerCase(java.util.Locale.ROOT), h.substring(colon + 1).trim());
        }
        return code;
    }

    private Response send(String head, byte[] body) throws IOException {
        java.util.Map<String, String> headers = new java.util.HashMap<>();
        int code = request(head, body, headers);
        String length = headers.get("content-length");
        if (length == null) throw new IOException("the response has no Content-Length: status " + code);
        byte[] b = in.readNBytes(Integer.parseInt(length));
        return new Response(code, headers, new String(b, StandardCharsets.UTF_8));
    }

    /** Whether a response begins on this connection (false: it was closed without one). */
    private boolean responseStarts() throws IOException {
        in.mark(1);
        try {
            if (in.read() < 0) return false;
        } catch (java.net.SocketException e) {
            return false;   // reset by the peer
        }
        in.reset();
        return true;
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

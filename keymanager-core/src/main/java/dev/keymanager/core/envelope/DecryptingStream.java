package dev.keymanager.core.envelope;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import java.io.IOException;
import java.io.InputStream;

/**
 * The decrypting stream handed to callers: Tink's, with its failures sorted. A failure of the
 * ciphertext source stays an {@link IOException}; a segment that does not authenticate (altered,
 * reordered, truncated, extended) becomes an {@link InvalidCiphertextException}. Bytes are returned
 * only from segments that authenticated. Drops Tink's keyed state when closed.
 */
final class DecryptingStream extends InputStream {
  private final SourceTracking.Stream source;
  private final KekRef kek;
  private InputStream tink; // null once closed

  DecryptingStream(InputStream tink, SourceTracking.Stream source, KekRef kek) {
    this.tink = tink;
    this.source = source;
    this.kek = kek;
  }

  private InputStream open() throws IOException {
    InputStream t = tink;
    if (t == null) {
      throw new IOException("decrypting stream is closed");
    }
    return t;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n = read(one, 0, 1);
    return n == 1 ? one[0] & 0xFF : -1;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    java.util.Objects.checkFromIndexSize(off, len, b.length);
    if (len == 0) {
      return 0;
    }
    InputStream t = open();
    try {
      return t.read(b, off, len);
    } catch (IOException e) {
      throw sorted(e);
    }
  }

  @Override
  public int available() throws IOException {
    return open().available();
  }

  private IOException sorted(IOException e) {
    if (source.failed()) {
      return e;
    }
    throw new InvalidCiphertextException(
        "Streaming payload under KEK "
            + kek
            + " failed authentication: a segment was altered, reordered or removed, or the"
            + " payload was truncated or extended",
        e);
  }

  /** Closes the ciphertext stream. Idempotent. */
  @Override
  public void close() throws IOException {
    InputStream t = tink;
    if (t != null) {
      tink = null;
      t.close();
    }
  }

  @Override
  public String toString() {
    return "DecryptingStream[" + kek + ", " + (tink == null ? "closed" : "open") + "]";
  }
}

package dev.keymanager.core.envelope;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;

/**
 * A read-only seekable channel over a byte array, optionally failing every read after a number of
 * bytes (to tell I/O failures from bad ciphertext), and returning at most {@code chunk} bytes per
 * read (as a real channel may).
 */
final class BytesChannel implements SeekableByteChannel {
  private final byte[] bytes;
  private final int chunk;
  private long failAfter = Long.MAX_VALUE;
  private long served;
  private long position;
  private boolean open = true;

  BytesChannel(byte[] bytes) {
    this(bytes, Integer.MAX_VALUE);
  }

  BytesChannel(byte[] bytes, int chunk) {
    this.bytes = bytes;
    this.chunk = chunk;
  }

  BytesChannel failAfter(long n) {
    failAfter = n;
    return this;
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    if (!open) {
      throw new ClosedChannelException();
    }
    if (position >= bytes.length) {
      return -1;
    }
    int n = (int) Math.min(Math.min(dst.remaining(), chunk), bytes.length - position);
    if (served + n > failAfter) {
      throw new IOException("disk gone (injected)");
    }
    dst.put(bytes, (int) position, n);
    position += n;
    served += n;
    return n;
  }

  @Override
  public int write(ByteBuffer src) {
    throw new NonWritableChannelException();
  }

  @Override
  public long position() {
    return position;
  }

  @Override
  public SeekableByteChannel position(long newPosition) {
    position = newPosition;
    return this;
  }

  @Override
  public long size() {
    return bytes.length;
  }

  @Override
  public SeekableByteChannel truncate(long size) {
    throw new NonWritableChannelException();
  }

  @Override
  public boolean isOpen() {
    return open;
  }

  @Override
  public void close() {
    open = false;
  }
}

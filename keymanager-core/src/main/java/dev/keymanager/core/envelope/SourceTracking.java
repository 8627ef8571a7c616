package dev.keymanager.core.envelope;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;

/**
 * Wrappers that remember whether the ciphertext source itself failed, so that an {@link
 * IOException} out of Tink can be told apart: a failure of the source stays an {@code IOException};
 * anything else Tink raises is about the bytes and becomes an {@link
 * dev.keymanager.InvalidCiphertextException}.
 */
final class SourceTracking {
  private SourceTracking() {}

  /** An input stream that records the first failure of the stream it wraps. */
  static final class Stream extends FilterInputStream {
    private volatile IOException failure;

    Stream(InputStream in) {
      super(in);
    }

    boolean failed() {
      return failure != null;
    }

    private IOException record(IOException e) {
      if (failure == null) {
        failure = e;
      }
      return e;
    }

    @Override
    public int read() throws IOException {
      try {
        return super.read();
      } catch (IOException e) {
        throw record(e);
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        return super.read(b, off, len);
      } catch (IOException e) {
        throw record(e);
      }
    }

    @Override
    public long skip(long n) throws IOException {
      try {
        return super.skip(n);
      } catch (IOException e) {
        throw record(e);
      }
    }
  }

  /** A read-only view of a channel that records the first failure of the channel it wraps. */
  static final class Channel implements SeekableByteChannel {
    private final SeekableByteChannel delegate;
    private volatile IOException failure;

    Channel(SeekableByteChannel delegate) {
      this.delegate = delegate;
    }

    boolean failed() {
      return failure != null;
    }

    private IOException record(IOException e) {
      if (failure == null) {
        failure = e;
      }
      return e;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      try {
        return delegate.read(dst);
      } catch (IOException e) {
        throw record(e);
      }
    }

    @Override
    public int write(ByteBuffer src) {
      throw new java.nio.channels.NonWritableChannelException();
    }

    @Override
    public long position() throws IOException {
      try {
        return delegate.position();
      } catch (IOException e) {
        throw record(e);
      }
    }

    @Override
    public SeekableByteChannel position(long newPosition) throws IOException {
      try {
        delegate.position(newPosition);
        return this;
      } catch (IOException e) {
        throw record(e);
      }
    }

    @Override
    public long size() throws IOException {
      try {
        return delegate.size();
      } catch (IOException e) {
        throw record(e);
      }
    }

    @Override
    public SeekableByteChannel truncate(long size) {
      throw new java.nio.channels.NonWritableChannelException();
    }

    @Override
    public boolean isOpen() {
      return delegate.isOpen();
    }

    @Override
    public void close() throws IOException {
      delegate.close();
    }
  }
}

package dev.keymanager.examples;

import static java.util.Objects.requireNonNull;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerException;
import dev.keymanager.core.envelope.EnvelopeCipher;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A small store of encrypted segment files, as a log-structured storage engine keeps them: each
 * segment is written once as a stream, under its own DEK, and then served by random-access reads
 * that decrypt only the 64 KiB segments of the file they touch.
 *
 * <p>Each file's key context names the store and the file, so a file copied over another name (or
 * into another store) fails to open with {@link InvalidCiphertextException}. Files are written to a
 * temporary name and renamed into place once the stream is closed, so a crash never leaves a
 * half-written segment under a real name. Up to {@link #MAX_OPEN} decrypting channels stay open,
 * least recently used closed first; each holds two segment buffers (128 KiB).
 *
 * <p>Run the demo ({@link SegmentFileStoreDemo}) with {@code ./mvnw -q -pl examples -am -DskipTests
 * -Psegment-store verify}.
 *
 * <p>Thread-safe: reads of one file are serialised on its channel.
 */
public final class SegmentFileStore implements AutoCloseable {
  /** The most decrypting channels kept open. */
  public static final int MAX_OPEN = 16;

  private static final String SUFFIX = ".seg";

  private final Path directory;
  private final String name;
  private final EnvelopeCipher cipher;
  private final Map<String, SeekableByteChannel> open =
      new LinkedHashMap<>(16, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, SeekableByteChannel> eldest) {
          if (size() > MAX_OPEN) {
            closeQuietly(eldest.getValue());
            return true;
          }
          return false;
        }
      };
  private int next;

  /**
   * A store named {@code name} in {@code directory}, encrypting under the KEK {@code kekId}.
   *
   * @throws UncheckedIOException if the directory cannot be created or listed
   */
  public SegmentFileStore(KeyManager keys, String kekId, String name, Path directory) {
    this.cipher = EnvelopeCipher.of(requireNonNull(keys, "keys"), kekId);
    this.name = requireNonNull(name, "name");
    this.directory = requireNonNull(directory, "directory");
    try {
      Files.createDirectories(directory);
      next = segments().size() + 1;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private KeyContext context(String segment) {
    return KeyContext.of(Map.of("store", name, "segment", segment));
  }

  /** The segment names, sorted. */
  public synchronized List<String> segments() throws IOException {
    try (Stream<Path> files = Files.list(directory)) {
      return files
          .map(p -> p.getFileName().toString())
          .filter(f -> f.endsWith(SUFFIX))
          .map(f -> f.substring(0, f.length() - SUFFIX.length()))
          .sorted()
          .toList();
    }
  }

  /** A writer for the next segment; its name is {@link SegmentWriter#name()}. */
  public synchronized SegmentWriter newSegment() throws IOException {
    String segment = String.format("segment-%06d", next++);
    Path temp = directory.resolve(segment + ".tmp");
    OutputStream out =
        cipher.newEncryptingStream(
            Files.newOutputStream(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
            context(segment));
    return new SegmentWriter(segment, temp, directory.resolve(segment + SUFFIX), out);
  }

  /** Writes one segment: plaintext in, encrypted file out, renamed into place on close. */
  public static final class SegmentWriter extends OutputStream {
    private final String name;
    private final Path temp;
    private final Path target;
    private final OutputStream out;

    private SegmentWriter(String name, Path temp, Path target, OutputStream out) {
      this.name = name;
      this.temp = temp;
      this.target = target;
      this.out = out;
    }

    public String name() {
      return name;
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
    }

    /** Writes the last encrypted segment, syncs and renames the file into place. */
    @Override
    public void close() throws IOException {
      out.close();
      try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
        ch.force(true);
      }
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
    }
  }

  /** The plaintext size of a segment (authenticated when its channel opened). */
  public long size(String segment) throws IOException {
    SeekableByteChannel ch = channel(segment);
    synchronized (ch) {
      return ch.size();
    }
  }

  /**
   * Reads up to {@code length} plaintext bytes of {@code segment} from {@code offset}; fewer at the
   * end of the segment.
   *
   * @throws InvalidCiphertextException if the file was altered, truncated, extended or moved here
   *     from another name or store
   * @throws KeyManagerException if the file's KEK may no longer be used (the CMK was revoked, the
   *     KEK disabled): the cached channel is closed, and a read once access is back opens it again
   */
  public byte[] read(String segment, long offset, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length);
    SeekableByteChannel ch = channel(segment);
    try {
      readInto(ch, offset, b);
    } catch (java.nio.channels.ClosedChannelException e) {
      // Another thread's open evicted this channel between lookup and read: open it again.
      b.clear();
      ch = channel(segment);
      readInto(ch, offset, b);
    } catch (KeyManagerException e) {
      // The channel failed for good (its KEK was revoked, disabled, or past its hard TTL with the
      // KMS unreachable): close it and forget it, so that a later read opens the file again and
      // works once access is back.
      forget(segment, ch);
      throw e;
    }
    byte[] out = new byte[b.position()];
    b.flip().get(out);
    return out;
  }

  private static void readInto(SeekableByteChannel ch, long offset, ByteBuffer b)
      throws IOException {
    synchronized (ch) {
      ch.position(offset);
      while (b.hasRemaining() && ch.read(b) >= 0) {
        // a channel may return fewer bytes than asked
      }
    }
  }

  private synchronized SeekableByteChannel channel(String segment) throws IOException {
    SeekableByteChannel ch = open.get(segment);
    if (ch == null) {
      ch =
          cipher.newSeekableDecryptingChannel(
              FileChannel.open(directory.resolve(segment + SUFFIX)), context(segment));
      open.put(segment, ch);
    }
    return ch;
  }

  private synchronized void forget(String segment, SeekableByteChannel ch) {
    open.remove(segment, ch);
    closeQuietly(ch);
  }

  /** Closes every open channel. */
  @Override
  public synchronized void close() {
    for (SeekableByteChannel ch : new ArrayList<>(open.values())) {
      closeQuietly(ch);
    }
    open.clear();
  }

  private static void closeQuietly(SeekableByteChannel ch) {
    try {
      ch.close();
    } catch (IOException e) {
      // Read-only file channel: nothing was buffered, nothing is lost.
    }
  }

  @Override
  public String toString() {
    return "SegmentFileStore[" + name + " in " + directory + "]";
  }
}

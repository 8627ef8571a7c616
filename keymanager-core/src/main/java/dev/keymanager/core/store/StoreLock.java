package dev.keymanager.core.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Mutual exclusion over one store directory: across threads, across store instances in this JVM,
 * and across processes.
 *
 * <p>A {@link FileLock} alone is not enough inside one JVM: file locks belong to the whole process,
 * so two channels of one JVM that lock the same file get an {@link
 * java.nio.channels.OverlappingFileLockException} instead of waiting, and on POSIX closing
 * <em>any</em> channel of the file drops every lock the process holds on it. So every instance on a
 * directory shares one JVM-wide {@link ReentrantLock}, keyed by the directory's real path, and
 * takes it before the file lock and before closing its channel.
 */
final class StoreLock implements AutoCloseable {
  /** One lock per directory ever opened in this JVM; a few bytes each, never removed. */
  private static final ConcurrentMap<Path, ReentrantLock> JVM_LOCKS = new ConcurrentHashMap<>();

  /** An action run under the lock that may fail with an {@link IOException}. */
  interface IoAction<T> {
    T run() throws IOException;
  }

  private final Path lockFile;
  private final FileAttribute<?>[] attributes;
  private final ReentrantLock jvmLock;
  private FileChannel channel; // guarded by jvmLock
  private boolean closed; // guarded by jvmLock

  private StoreLock(Path lockFile, FileAttribute<?>[] attributes) throws IOException {
    this.lockFile = lockFile;
    this.attributes = attributes.clone();
    this.jvmLock = JVM_LOCKS.computeIfAbsent(lockFile, f -> new ReentrantLock());
    this.channel = openChannel();
  }

  /**
   * Opens the lock on {@code lockFile}, which must be a real path (see {@link Path#toRealPath}) so
   * that every spelling of one directory shares one JVM lock; the file is created with {@code
   * attributes} if missing.
   */
  static StoreLock open(Path lockFile, FileAttribute<?>... attributes) throws IOException {
    return new StoreLock(lockFile, attributes);
  }

  /**
   * Runs {@code action} holding the JVM lock and an exclusive lock on the file.
   *
   * @throws IllegalStateException if this lock is closed
   */
  <T> T locked(IoAction<T> action) throws IOException {
    jvmLock.lock();
    try {
      if (closed) {
        throw new IllegalStateException("KEK store is closed");
      }
      if (!channel.isOpen()) {
        // An interrupt during I/O on an interruptible channel closes it: open a fresh one rather
        // than leave the store unusable for every other thread.
        channel = openChannel();
      }
      FileLock fileLock = channel.lock();
      try {
        return action.run();
      } finally {
        fileLock.release();
      }
    } finally {
      jvmLock.unlock();
    }
  }

  /** Releases the file; idempotent. */
  @Override
  public void close() throws IOException {
    jvmLock.lock();
    try {
      if (!closed) {
        closed = true;
        channel.close();
      }
    } finally {
      jvmLock.unlock();
    }
  }

  private FileChannel openChannel() throws IOException {
    return FileChannel.open(
        lockFile, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE), attributes);
  }
}

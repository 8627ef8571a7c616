package dev.keymanager.core.store;

import dev.keymanager.KekRef;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KekStoreChecks;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded default {@link KekStore}: one file per record in a local directory.
 *
 * <p>Layout: {@code <directory>/<sha256(id)>/v<version>.kek}, where the first name is the lowercase
 * hex SHA-256 of the id's UTF-8 bytes. Hashing makes any valid id (slashes, {@code ..}, case
 * differences on case-insensitive file systems, 255 bytes) a safe fixed-length name that cannot
 * escape the directory; the id itself is kept inside the record, which is checked against the name
 * on every read. The KEK's head ({@link KekHead}) is {@code <directory>/<sha256(id)>/head.kek}
 * beside its version records; a directory of the layout before heads has none until the first
 * change. {@code <directory>/.lock} is locked around every write. {@code <directory>/ids} lists the
 * ids ({@link IdIndex}), so that neither opening nor listing visits every KEK.
 *
 * <p>Opening costs the same at any number of KEKs: it reads no KEK directory. A crashed writer's
 * temporary file is deleted when its KEK is next written (and by the one-time index build of an
 * older directory); until then reads skip it.
 *
 * <p>Writes run under {@link StoreLock} (threads, instances and processes), check the current
 * state, and replace the record with {@link DurableFiles#replace}. Reads take no lock: a rename is
 * atomic, so a reader sees the old or the new file.
 */
final class FileKekStore implements KekStore {
  private static final Logger log = LoggerFactory.getLogger(FileKekStore.class);

  static final String LOCK_FILE = ".lock";
  static final String HEAD_FILE = "head.kek";
  private static final Pattern KEK_DIRECTORY = Pattern.compile("[0-9a-f]{64}");
  private static final Pattern RECORD_FILE = Pattern.compile("v([1-9][0-9]{0,9})\\.kek");

  private final Path directory;
  private final DurableFiles files;
  private final StoreLock lock;
  private final IdIndex index;
  private volatile boolean closed;

  private FileKekStore(Path directory, DurableFiles files, StoreLock lock) {
    this.directory = directory;
    this.files = files;
    this.lock = lock;
    this.index = new IdIndex(directory);
  }

  /** Opens the store in {@code directory}, creating it if missing; see {@link KekStores#file}. */
  static FileKekStore open(Path directory) {
    Path dir = directory.toAbsolutePath().normalize();
    StoreLock lock = null;
    try {
      DurableFiles files = DurableFiles.ownerOnly(dir);
      if (dir.getParent() != null) {
        Files.createDirectories(dir.getParent());
      }
      boolean created = files.createDirectory(dir);
      if (!created) {
        warnIfShared(dir);
      }
      Path real = dir.toRealPath();
      lock = StoreLock.open(real.resolve(LOCK_FILE), files.fileAttributes());
      FileKekStore store = new FileKekStore(real, files, lock);
      if (created) {
        // A new store starts with its id index; an older directory gets one at its first listing.
        lock.locked(
            () -> {
              if (!store.index.exists()) {
                IdIndex.createEmpty(files, real);
              }
              return null;
            });
      }
      log.debug("Opened KEK store {}", real);
      return store;
    } catch (IOException e) {
      closeQuietly(lock, e);
      throw KekStoreException.retryable("Cannot open KEK store directory " + dir + ": " + e, e);
    }
  }

  @Override
  public Optional<KeyEncryptionKey> find(String kekId, int version) {
    KekRef ref = new KekRef(kekId, version);
    ensureOpen();
    try {
      return read(recordFile(ref), ref);
    } catch (IOException e) {
      throw ioFailure("read KEK " + ref, e);
    }
  }

  @Override
  public List<KeyEncryptionKey> versions(String kekId) {
    KekRef.checkId(kekId);
    ensureOpen();
    Path kekDir = directory.resolve(hash(kekId));
    try {
      List<KeyEncryptionKey> records = new ArrayList<>();
      for (int version : storedVersions(kekDir, false)) {
        KekRef ref = new KekRef(kekId, version);
        read(recordFile(ref), ref).ifPresent(records::add);
      }
      return records;
    } catch (IOException e) {
      throw ioFailure("list the versions of KEK " + kekId, e);
    }
  }

  /**
   * A page of the {@linkplain IdIndex id index}, which reads no record: a KEK whose records are
   * corrupt is listed, and reading it fails. A directory of the layout before the index gets one at
   * its first listing, by one scan under the lock ({@link #buildIndex}).
   */
  @Override
  public KekIdPage kekIds(String after, int limit) {
    KekStoreChecks.checkPage(after, limit);
    ensureOpen();
    try {
      if (!index.exists()) {
        lock.locked(
            () -> {
              if (!index.exists()) {
                buildIndex();
              }
              return null;
            });
      }
      return index.page(
          after, limit, id -> !storedVersions(directory.resolve(hash(id)), false).isEmpty());
    } catch (IOException e) {
      throw ioFailure("list KEK ids", e);
    }
  }

  /**
   * Writes the id index of a directory of the layout before it, and deletes what crashed writers
   * left: one pass over every KEK directory, under the lock, once per directory. Each KEK
   * directory's id is read from its oldest record that decodes, so a corrupt record hides its KEK
   * only when every record of that KEK is corrupt; such a directory goes into the index as
   * unreadable.
   */
  private void buildIndex() throws IOException {
    List<String> ids = new ArrayList<>();
    List<String> unreadable = new ArrayList<>();
    int removed = 0;
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory)) {
      for (Path kekDir : entries) {
        String name = kekDir.getFileName().toString();
        if (!KEK_DIRECTORY.matcher(name).matches()
            || !Files.isDirectory(kekDir, LinkOption.NOFOLLOW_LINKS)) {
          continue;
        }
        removed += removeTempFiles(kekDir);
        // A directory whose first record a crashed writer never renamed into place is empty.
        String id = null;
        List<String> problems = new ArrayList<>();
        for (int version : storedVersions(kekDir, false)) {
          Path file = kekDir.resolve(recordFileName(version));
          try {
            KeyEncryptionKey record =
                KekRecordCodec.decode(Files.readAllBytes(file), file.toString());
            if (!hash(record.id()).equals(name) || record.version() != version) {
              throw misplaced(file, record);
            }
            id = record.id();
            break;
          } catch (KekStoreException e) {
            if (e.isRetryable()) {
              throw e;
            }
            problems.add(e.getMessage());
          }
        }
        if (id != null) {
          ids.add(id);
        } else if (!problems.isEmpty()) {
          unreadable.add(
              "KEK directory "
                  + kekDir
                  + ": no readable record ("
                  + String.join("; ", problems)
                  + ")");
        }
      }
    }
    index.build(files, ids, unreadable);
    log.info(
        "KEK store {}: wrote the id index of {} KEKs ({} unreadable); removed {} leftover"
            + " temporary files",
        directory,
        ids.size(),
        unreadable.size(),
        removed);
  }

  @Override
  public boolean create(KeyEncryptionKey record) {
    KekStoreChecks.checkNewRecord(record);
    return createFile(
        recordFile(record.ref()),
        KekRecordCodec.encode(record),
        record.id(),
        "create KEK " + record.ref());
  }

  @Override
  public boolean compareAndSet(long expectedRevision, KeyEncryptionKey next) {
    KekStoreChecks.checkNextRevision(expectedRevision, next);
    Path file = recordFile(next.ref());
    return replaceAtRevision(
        file,
        () -> read(file, next.ref()).map(KeyEncryptionKey::revision),
        expectedRevision,
        KekRecordCodec.encode(next),
        "update KEK " + next.ref());
  }

  @Override
  public Optional<KekHead> head(String kekId) {
    KekRef.checkId(kekId);
    ensureOpen();
    try {
      return readHead(headFile(kekId), kekId);
    } catch (IOException e) {
      throw ioFailure("read the head of KEK " + kekId, e);
    }
  }

  @Override
  public boolean createHead(KekHead head) {
    KekStoreChecks.checkNewHead(head);
    return createFile(
        headFile(head.id()),
        KekRecordCodec.encodeHead(head),
        null,
        "create the head of KEK " + head.id());
  }

  @Override
  public boolean compareAndSetHead(long expectedRevision, KekHead next) {
    KekStoreChecks.checkNextHead(expectedRevision, next);
    Path file = headFile(next.id());
    return replaceAtRevision(
        file,
        () -> readHead(file, next.id()).map(KekHead::revision),
        expectedRevision,
        KekRecordCodec.encodeHead(next),
        "update the head of KEK " + next.id());
  }

  /**
   * Writes {@code encoded} to {@code file} under the lock unless the file exists. For a version
   * record ({@code versionOf} its KEK id, else {@code null}) that is its KEK's first, the id goes
   * into the index around the write (see {@link IdIndex}). Temporary files that crashed writers
   * left in the KEK's directory are deleted first.
   */
  private boolean createFile(Path file, byte[] encoded, String versionOf, String what) {
    ensureOpen();
    try {
      return lock.locked(
          () -> {
            Path kekDir = file.getParent();
            boolean first = storedVersions(kekDir, true).isEmpty();
            if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
              return false;
            }
            boolean indexed = versionOf != null && first && index.exists();
            if (indexed) {
              index.appendIntent(versionOf);
            }
            files.createDirectory(kekDir);
            files.replace(file, encoded);
            if (indexed) {
              index.appendStored(versionOf);
            }
            return true;
          });
    } catch (IOException e) {
      throw writeFailure(what, e);
    }
  }

  /**
   * Replaces {@code file} with {@code encoded} under the lock if the record it holds now is at
   * {@code expectedRevision}: the compare-and-set of version records and heads alike.
   */
  private boolean replaceAtRevision(
      Path file,
      StoreLock.IoAction<Optional<Long>> currentRevision,
      long expectedRevision,
      byte[] encoded,
      String what) {
    ensureOpen();
    try {
      return lock.locked(
          () -> {
            Optional<Long> current = currentRevision.run();
            if (current.isEmpty() || current.get() != expectedRevision) {
              return false;
            }
            removeTempFiles(file.getParent());
            files.replace(file, encoded);
            return true;
          });
    } catch (IOException e) {
      throw writeFailure(what, e);
    }
  }

  /** Releases the lock file; idempotent. Calls after this throw {@link IllegalStateException}. */
  @Override
  public void close() {
    closed = true;
    try {
      lock.close();
    } catch (IOException e) {
      throw ioFailure("close", e);
    }
  }

  @Override
  public String toString() {
    return "FileKekStore[" + directory + "]";
  }

  private Optional<KeyEncryptionKey> read(Path file, KekRef expected) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
    KeyEncryptionKey record = KekRecordCodec.decode(bytes, file.toString());
    if (!record.ref().equals(expected)) {
      throw misplaced(file, record);
    }
    return Optional.of(record);
  }

  private Optional<KekHead> readHead(Path file, String expectedId) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
    KekHead head = KekRecordCodec.decodeHead(bytes, file.toString());
    if (!head.id().equals(expectedId)) {
      throw KekStoreException.corrupt(
          "KEK head file " + file + " holds the head of " + head.id() + ", which belongs elsewhere",
          null);
    }
    return Optional.of(head);
  }

  private Path headFile(String kekId) {
    return directory.resolve(hash(kekId)).resolve(HEAD_FILE);
  }

  /**
   * The versions with a record file in {@code kekDir}, ascending. Temporary files are skipped, or
   * deleted if {@code removeTemps}: only under the lock, where no live writer owns one.
   */
  private static List<Integer> storedVersions(Path kekDir, boolean removeTemps) throws IOException {
    List<Integer> versions = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(kekDir)) {
      for (Path entry : entries) {
        String name = entry.getFileName().toString();
        if (removeTemps && name.endsWith(DurableFiles.TEMP_SUFFIX)) {
          Files.deleteIfExists(entry);
          continue;
        }
        Matcher m = RECORD_FILE.matcher(name);
        if (m.matches()) {
          long version = Long.parseLong(m.group(1));
          if (version <= Integer.MAX_VALUE) {
            versions.add((int) version);
          }
        }
      }
    } catch (NoSuchFileException e) {
      return List.of();
    }
    versions.sort(null);
    return versions;
  }

  /**
   * Deletes the temporary files that crashed writers left in one KEK directory; runs under the
   * lock, so no live writer owns one.
   */
  private static int removeTempFiles(Path kekDir) throws IOException {
    int removed = 0;
    try (DirectoryStream<Path> temps =
        Files.newDirectoryStream(kekDir, "*" + DurableFiles.TEMP_SUFFIX)) {
      for (Path temp : temps) {
        Files.deleteIfExists(temp);
        removed++;
      }
    } catch (NoSuchFileException e) {
      return 0;
    }
    return removed;
  }

  private Path recordFile(KekRef ref) {
    return directory.resolve(hash(ref.id())).resolve(recordFileName(ref.version()));
  }

  private static String recordFileName(int version) {
    return "v" + version + ".kek";
  }

  private static String hash(String kekId) {
    try {
      MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
      return HexFormat.of().formatHex(sha256.digest(kekId.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError("every Java platform has SHA-256", e);
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("KEK store " + directory + " is closed");
    }
  }

  private KekStoreException ioFailure(String action, IOException e) {
    return KekStoreException.retryable(
        "Cannot " + action + " in KEK store " + directory + ": " + e, e);
  }

  /** A write failed part-way: the rename may have happened before the failure, or not. */
  private KekStoreException writeFailure(String action, IOException e) {
    return KekStoreException.mayHaveBeenApplied(
        "Cannot "
            + action
            + " in KEK store "
            + directory
            + ": "
            + e
            + ". The write may or may not have been applied",
        e);
  }

  private static KekStoreException misplaced(Path file, KeyEncryptionKey record) {
    return KekStoreException.corrupt(
        "KEK record file " + file + " holds " + record.ref() + ", which belongs elsewhere", null);
  }

  private static void warnIfShared(Path dir) throws IOException {
    if (!DurableFiles.isPosix(dir)) {
      return;
    }
    Set<PosixFilePermission> open =
        EnumSet.complementOf(
            EnumSet.of(
                PosixFilePermission.OWNER_READ,
                PosixFilePermission.OWNER_WRITE,
                PosixFilePermission.OWNER_EXECUTE));
    open.retainAll(Files.getPosixFilePermissions(dir));
    if (!open.isEmpty()) {
      log.warn("KEK store directory {} is accessible to others: {}; expected rwx------", dir, open);
    }
  }

  private static void closeQuietly(StoreLock lock, IOException failure) {
    if (lock != null) {
      try {
        lock.close();
      } catch (IOException e) {
        failure.addSuppressed(e);
      }
    }
  }
}

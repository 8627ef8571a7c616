package dev.keymanager.core.internal;

import static java.util.Objects.requireNonNull;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The development KMS, scheme {@code local-kms}: <strong>not for production.</strong> The "CMK" is
 * a 256-bit AES key in a local file, so whoever can read that file can read every KEK; there is no
 * separation between the data and the key that guards it, which is the point of a real KMS.
 *
 * <p>URIs: {@code local-kms:///absolute/path/master.key} or {@code local-kms://relative/path} (to
 * the working directory). The first wrap creates the file with owner-only permissions (POSIX {@code
 * rw-------}); a file readable by anyone else is refused. Every call reads the file anew, so
 * deleting it revokes the CMK at once: unwraps then fail with {@link KeyAccessDeniedException}.
 * Other I/O failures are {@link KmsUnavailableException}.
 *
 * <p>Ciphertext: version byte {@code 1}, a random 12-byte nonce, then AES-256-GCM of the plaintext
 * with the associated data {@code "keymanager/local-kms/v1"} followed by the canonical key-context
 * encoding. Thread-safe.
 */
public final class LocalKmsProvider implements KmsProvider {
  /** The URI scheme. */
  public static final String SCHEME = "local-kms";

  private static final Logger log = LoggerFactory.getLogger(LocalKmsProvider.class);
  private static final byte[] FILE_MAGIC = {'K', 'M', 'L', 'K', 1};
  private static final int KEY_LENGTH = 32;
  private static final byte FORMAT = 1;
  private static final int NONCE_LENGTH = 12;
  private static final int TAG_BITS = 128;
  private static final byte[] AAD_LABEL =
      "keymanager/local-kms/v1".getBytes(StandardCharsets.US_ASCII);
  private static final Set<PosixFilePermission> OWNER_ONLY =
      PosixFilePermissions.fromString("rw-------");

  private final AtomicBoolean warned = new AtomicBoolean();
  private final FileReader reader;

  /** Reads a whole file; a seam so tests can inject I/O failures. */
  @FunctionalInterface
  interface FileReader {
    byte[] read(Path path) throws IOException;
  }

  /** A provider; cheap, opens nothing until used. */
  public LocalKmsProvider() {
    this(Files::readAllBytes);
  }

  LocalKmsProvider(FileReader reader) {
    this.reader = reader;
  }

  @Override
  public String scheme() {
    return SCHEME;
  }

  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    return key(cmkUri);
  }

  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return Optional.of(key(cmkUri));
  }

  private LocalKey key(URI cmkUri) {
    requireNonNull(cmkUri, "cmkUri");
    Path path = pathOf(cmkUri);
    if (warned.compareAndSet(false, true)) {
      log.warn(
          "local-kms is a development KMS and is NOT for production: its master key lives in a"
              + " plain file ({}); use a real KMS module for customer data",
          path);
    }
    return new LocalKey(cmkUri, path, reader);
  }

  /** The master key file named by a {@code local-kms://PATH} URI. */
  static Path pathOf(URI uri) {
    String raw = uri.getRawSchemeSpecificPart();
    if (!SCHEME.equalsIgnoreCase(uri.getScheme())
        || raw == null
        || !raw.startsWith("//")
        || raw.length() == 2
        || uri.getRawQuery() != null
        || uri.getRawFragment() != null) {
      throw new KeyManagerConfigException(
          "Malformed local-kms URI '"
              + uri
              + "': expected local-kms:///absolute/path or local-kms://relative/path");
    }
    return Path.of(uri.getSchemeSpecificPart().substring(2));
  }

  /**
   * Creates a master key file at {@code path} with owner-only permissions, unless one exists, and
   * returns its {@code local-kms} URI.
   *
   * @throws KmsUnavailableException if the file cannot be written
   */
  public static URI createMasterKey(Path path) {
    requireNonNull(path, "path");
    URI uri = URI.create(SCHEME + "://" + path.toAbsolutePath().toUri().getRawPath());
    byte[] file = new byte[FILE_MAGIC.length + KEY_LENGTH];
    try {
      Path parent = path.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      System.arraycopy(FILE_MAGIC, 0, file, 0, FILE_MAGIC.length);
      byte[] key = Randoms.bytes(KEY_LENGTH);
      System.arraycopy(key, 0, file, FILE_MAGIC.length, KEY_LENGTH);
      Arrays.fill(key, (byte) 0);
      try (FileChannel ch =
          FileChannel.open(
              path,
              Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
              posix(path)
                  ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(OWNER_ONLY)}
                  : new FileAttribute<?>[0])) {
        ch.write(ByteBuffer.wrap(file));
        ch.force(true);
      }
      log.warn("Created local-kms master key file {} (development only)", path);
    } catch (FileAlreadyExistsException e) {
      // Another writer created it first; use theirs.
    } catch (IOException e) {
      throw new KmsUnavailableException(
          "Could not create the local-kms master key file for CMK " + uri + ": " + e, e);
    } finally {
      Arrays.fill(file, (byte) 0);
    }
    return uri;
  }

  private static boolean posix(Path path) {
    return path.toAbsolutePath().getFileSystem().supportedFileAttributeViews().contains("posix");
  }

  @Override
  public String toString() {
    return "LocalKmsProvider[development only]";
  }

  private static final class LocalKey implements KmsUnwrapper, KmsWrapper {
    private final URI uri;
    private final Path path;
    private final FileReader reader;

    LocalKey(URI uri, Path path, FileReader reader) {
      this.uri = uri;
      this.path = path;
      this.reader = reader;
    }

    @Override
    public URI cmkUri() {
      return uri;
    }

    @Override
    public byte[] wrap(byte[] plaintext, KeyContext context) {
      requireNonNull(plaintext, "plaintext");
      requireNonNull(context, "context");
      byte[] key = readKey();
      try {
        byte[] out = new byte[1 + NONCE_LENGTH + plaintext.length + TAG_BITS / 8];
        out[0] = FORMAT;
        byte[] nonce = Randoms.bytes(NONCE_LENGTH);
        System.arraycopy(nonce, 0, out, 1, NONCE_LENGTH);
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.ENCRYPT_MODE, LentKey.aes(key), new GCMParameterSpec(TAG_BITS, nonce));
        cipher.updateAAD(AAD_LABEL);
        cipher.updateAAD(context.encode());
        cipher.doFinal(plaintext, 0, plaintext.length, out, 1 + NONCE_LENGTH);
        return out;
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("AES-GCM unavailable", e);
      } finally {
        Arrays.fill(key, (byte) 0);
      }
    }

    @Override
    public byte[] unwrap(byte[] ciphertext, KeyContext context) {
      requireNonNull(ciphertext, "ciphertext");
      requireNonNull(context, "context");
      if (ciphertext.length < 1 + NONCE_LENGTH + TAG_BITS / 8 || ciphertext[0] != FORMAT) {
        throw new InvalidCiphertextException(
            "Not a local-kms ciphertext (bad length or format byte) for CMK " + uri);
      }
      byte[] key = readKey();
      try {
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(
            Cipher.DECRYPT_MODE,
            LentKey.aes(key),
            new GCMParameterSpec(TAG_BITS, ciphertext, 1, NONCE_LENGTH));
        cipher.updateAAD(AAD_LABEL);
        cipher.updateAAD(context.encode());
        return cipher.doFinal(ciphertext, 1 + NONCE_LENGTH, ciphertext.length - 1 - NONCE_LENGTH);
      } catch (AEADBadTagException e) {
        throw new InvalidCiphertextException(
            "local-kms ciphertext did not authenticate under CMK "
                + uri
                + ": another master key, another context, or altered bytes",
            e);
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("AES-GCM unavailable", e);
      } finally {
        Arrays.fill(key, (byte) 0);
      }
    }

    private byte[] readKey() {
      byte[] file;
      try {
        if (posix(path)) {
          Set<PosixFilePermission> perms = Files.getPosixFilePermissions(path);
          if (!OWNER_ONLY.containsAll(perms)) {
            throw new KeyManagerConfigException(
                "local-kms master key file for CMK "
                    + uri
                    + " is accessible to other users ("
                    + PosixFilePermissions.toString(perms)
                    + "); restrict it with chmod 600");
          }
        }
        file = reader.read(path);
      } catch (NoSuchFileException e) {
        throw new KeyAccessDeniedException(
            "local-kms master key file for CMK "
                + uri
                + " does not exist: it was deleted or never"
                + " created, so this CMK is revoked",
            e);
      } catch (IOException e) {
        throw new KmsUnavailableException(
            "Could not read the local-kms master key file for CMK " + uri + ": " + e, e);
      }
      try {
        if (file.length != FILE_MAGIC.length + KEY_LENGTH
            || !Arrays.equals(file, 0, FILE_MAGIC.length, FILE_MAGIC, 0, FILE_MAGIC.length)) {
          throw new KeyManagerConfigException(
              "File for local-kms CMK " + uri + " is not a local-kms master key file");
        }
        return Arrays.copyOfRange(file, FILE_MAGIC.length, file.length);
      } finally {
        Arrays.fill(file, (byte) 0);
      }
    }

    @Override
    public String toString() {
      return "LocalKmsKey[" + uri + "]";
    }
  }
}

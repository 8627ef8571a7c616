package dev.keymanager.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KmsProviderContract;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalKmsProviderTest extends KmsProviderContract {
  @TempDir Path dir;

  private final AtomicBoolean failNext = new AtomicBoolean();
  private final LocalKmsProvider provider =
      new LocalKmsProvider(
          path -> {
            if (failNext.getAndSet(false)) {
              throw new IOException("simulated I/O error reading " + path.getFileName());
            }
            return Files.readAllBytes(path);
          });

  @Override
  protected KmsProvider provider() {
    return provider;
  }

  @Override
  protected URI cmk() {
    return LocalKmsProvider.createMasterKey(dir.resolve("a.key"));
  }

  @Override
  protected URI otherCmk() {
    return LocalKmsProvider.createMasterKey(dir.resolve("b.key"));
  }

  @Override
  protected void revoke(URI cmk) {
    try {
      Files.delete(Path.of(cmk.getPath()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** An I/O error other than "not found" is transient for local-kms. */
  @Override
  protected void failNextCallTransiently() {
    failNext.set(true);
  }

  @Override
  protected URI malformedUri() {
    return URI.create("local-kms:/no-double-slash");
  }

  @Test
  void masterKeyFilesAreOwnerOnly() throws IOException {
    URI cmk = cmk();

    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(Path.of(cmk.getPath()))))
        .isEqualTo("rw-------");
  }

  @Test
  void aMasterKeyReadableByOthersIsRefused() throws IOException {
    URI cmk = cmk();
    Files.setPosixFilePermissions(
        Path.of(cmk.getPath()), PosixFilePermissions.fromString("rw-r--r--"));

    assertThatThrownBy(
            () -> provider.wrapper(cmk).orElseThrow().wrap(new byte[32], KeyContext.empty()))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("chmod 600");
  }

  @Test
  void creatingAnExistingMasterKeyKeepsIt() throws IOException {
    URI cmk = cmk();
    byte[] before = Files.readAllBytes(Path.of(cmk.getPath()));

    assertThat(cmk()).isEqualTo(cmk);
    assertThat(Files.readAllBytes(Path.of(cmk.getPath()))).isEqualTo(before);
  }
}

package dev.keymanager.kms.pkcs11;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyManagerConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The configuration file and the builder's checks; no token is contacted. */
class Pkcs11ConfigTest {
  @TempDir Path dir;

  @Test
  void readsLibraryTokensPinFilesAndLimits() throws Exception {
    Path pin = Files.writeString(dir.resolve("pin"), "s3cret-pin\r\n", UTF_8);
    Path file =
        write(
            "library = /usr/lib/vendor/libpkcs11.so\n"
                + "token.engine.slot = 7\n"
                + "token.engine.pin.file = "
                + pin
                + "\ntoken.backup.hsm.slot = 8\n"
                + "token.backup.hsm.pin.file = "
                + pin
                + "\nmaxSessions = 3\nsessionTimeout = PT1.5S\n");

    try (Pkcs11KmsProvider p = Pkcs11KmsProvider.fromConfigFile(file)) {
      assertThat(p.token("engine").slot()).isEqualTo(7);
      assertThat(p.token("backup.hsm").slot()).isEqualTo(8);
      assertThat(p.toString())
          .contains("token 'engine' (slot 7, 3 sessions)")
          .doesNotContain("s3cret");
    }
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "token.engine.slot = 7\ntoken.engine.pin.env = NO_SUCH_VARIABLE_FOR_THE_PIN_42\n",
        "library = /x.so\n",
        "library = /x.so\ntoken.engine.slot = 7\n",
        "library = /x.so\ntoken.engine.slot = seven\ntoken.engine.pin.env = HOME\n",
        "library = /x.so\ntoken.engine.slot = 7\ntoken.engine.pin = 1234\n",
        "library = /x.so\ntoken.engine.slot = 7\ntoken.engine.pin.env = HOME\nmaxSessions = 0\n",
        "library = /x.so\ntoken.engine.slot = 7\ntoken.engine.pin.file = /nonexistent/pin\n",
        "library = /x.so\ntoken.engine.slot = 7\ntoken.engine.pin.env = HOME\nsessionTimeout = 5s\n",
      })
  void aBadFileIsAConfigurationErrorThatNamesIt(String content) throws Exception {
    Path file = write(content);
    assertThatThrownBy(() -> Pkcs11KmsProvider.fromConfigFile(file))
        .isInstanceOfAny(KeyManagerConfigException.class, IllegalStateException.class)
        .hasMessageNotContaining("1234");
  }

  @Test
  void aMissingFileIsAConfigurationError() {
    Path missing = dir.resolve("missing.properties");
    assertThatThrownBy(() -> Pkcs11KmsProvider.fromConfigFile(missing))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining(missing.toString());
  }

  @Test
  void theBuilderRejectsBadValuesAtOnceAndBuildsOnce() {
    Pkcs11KmsProvider.Builder b = Pkcs11KmsProvider.builder();
    assertThatThrownBy(() -> b.maxSessions(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.sessionTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.token("", 1, new char[] {'1'}))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.token("t", -1, new char[] {'1'}))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.token("t", 1, new char[0]))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(b::build).isInstanceOf(IllegalStateException.class);
    b.library(Path.of("/x.so"));
    assertThatThrownBy(b::build).isInstanceOf(IllegalStateException.class);

    char[] pin = "123456".toCharArray();
    b.token("t", 1, pin);
    assertThatThrownBy(() -> b.token("t", 2, pin)).isInstanceOf(IllegalArgumentException.class);
    b.build().close();
    assertThat(pin)
        .as("the caller's array is the caller's")
        .containsExactly("123456".toCharArray());
    assertThatThrownBy(b::build).isInstanceOf(IllegalStateException.class);
  }

  private Path write(String content) throws Exception {
    return Files.writeString(dir.resolve("pkcs11.properties"), content, UTF_8);
  }
}

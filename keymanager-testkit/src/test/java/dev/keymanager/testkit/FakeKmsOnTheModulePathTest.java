package dev.keymanager.testkit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.spi.KmsProvider;
import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A modular program that uses {@code FakeKms} (directly and through {@link
 * java.util.ServiceLoader}) compiles and runs in a forked JVM whose module path holds only
 * keymanager-api and the test kit: no JUnit, no AssertJ.
 */
class FakeKmsOnTheModulePathTest {
  private static final String MODULE_INFO =
      """
      module demo.fakekms {
        requires dev.keymanager.testkit;
        uses dev.keymanager.spi.KmsProvider;
      }
      """;

  private static final String MAIN =
      """
      package demo.fakekms;

      import dev.keymanager.KeyAccessDeniedException;
      import dev.keymanager.KeyContext;
      import dev.keymanager.spi.KmsProvider;
      import dev.keymanager.testkit.FakeKms;
      import java.net.URI;
      import java.util.Arrays;
      import java.util.Map;
      import java.util.ServiceLoader;

      public final class Main {
        public static void main(String[] args) {
          KmsProvider found = ServiceLoader.load(KmsProvider.class).stream()
              .map(ServiceLoader.Provider::get)
              .filter(p -> p.scheme().equals(FakeKms.SCHEME))
              .findFirst()
              .orElseThrow();
          FakeKms kms = (FakeKms) found;
          URI cmk = FakeKms.cmk("demo");
          KeyContext context = KeyContext.of(Map.of("app", "demo"));
          byte[] plain = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
          byte[] wrapped = kms.wrapper(cmk).orElseThrow().wrap(plain, context);
          byte[] back = kms.unwrapper(cmk).unwrap(wrapped, context);
          System.out.println("round trip " + Arrays.equals(plain, back));
          kms.disable(cmk);
          try {
            kms.unwrapper(cmk).unwrap(wrapped, context);
            System.out.println("disabled CMK unwrapped");
          } catch (KeyAccessDeniedException e) {
            System.out.println("disabled CMK denied");
          }
          System.out.println("calls " + kms.calls());
          for (String name : new String[] {"org.junit.jupiter.api", "org.assertj.core"}) {
            System.out.println(name + " present " + ModuleLayer.boot().findModule(name).isPresent());
          }
          System.out.println("testkit named " + FakeKms.class.getModule().isNamed());
        }
      }
      """;

  @TempDir Path temp;

  @Test
  void fakeKmsRunsInAModularProgramWithoutJunitOrAssertj() throws Exception {
    Path api = location(KmsProvider.class);
    Path testkit = location(FakeKms.class);
    String libraries = api + File.pathSeparator + testkit;
    assertThat(libraries).doesNotContainIgnoringCase("junit").doesNotContainIgnoringCase("assertj");

    Path src = temp.resolve("src");
    Files.createDirectories(src.resolve("demo/fakekms"));
    Files.writeString(src.resolve("module-info.java"), MODULE_INFO, UTF_8);
    Files.writeString(src.resolve("demo/fakekms/Main.java"), MAIN, UTF_8);
    Path classes = temp.resolve("classes");

    Result javac =
        run(
            tool("javac"),
            "--module-path",
            libraries,
            "-d",
            classes.toString(),
            src.resolve("module-info.java").toString(),
            src.resolve("demo/fakekms/Main.java").toString());
    assertThat(javac.exit()).as("javac: %s", javac.output()).isZero();

    Result java =
        run(
            tool("java"),
            "--module-path",
            classes + File.pathSeparator + libraries,
            "--module",
            "demo.fakekms/demo.fakekms.Main");
    assertThat(java.exit()).as("java: %s", java.output()).isZero();
    assertThat(java.output().lines())
        .containsExactly(
            "round trip true",
            "disabled CMK denied",
            "calls 3",
            "org.junit.jupiter.api present false",
            "org.assertj.core present false",
            "testkit named true");
  }

  private record Result(int exit, String output) {}

  private static Result run(String... command) throws IOException, InterruptedException {
    Process process =
        new ProcessBuilder(new ArrayList<>(List.of(command))).redirectErrorStream(true).start();
    process.getOutputStream().close();
    byte[] out = process.getInputStream().readAllBytes(); // ends when the process exits
    if (!process.waitFor(120, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new AssertionError("timed out: " + String.join(" ", command));
    }
    return new Result(process.exitValue(), new String(out, UTF_8));
  }

  private static String tool(String name) {
    return Path.of(System.getProperty("java.home"), "bin", name).toString();
  }

  private static Path location(Class<?> type) throws URISyntaxException {
    return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
  }
}

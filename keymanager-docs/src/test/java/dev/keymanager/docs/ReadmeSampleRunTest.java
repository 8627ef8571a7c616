package dev.keymanager.docs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.kms.aws.FakeAwsKms;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the README's "Using it" sample as written, through provider discovery, on the real
 * keymanager-kms-aws: the AWS SDK's {@code KmsClient} makes signed calls to {@link FakeAwsKms}, the
 * aws module's AWS KMS endpoint on 127.0.0.1 (from its test-jar), reached the way a user points the
 * SDK at another endpoint: the SDK's own {@code aws.endpointUrlKms} and credential system
 * properties, with nothing in the sample changed.
 */
class ReadmeSampleRunTest {
  @TempDir Path out;
  @TempDir Path data;

  @Test
  void theReadmeSampleEncryptsAndDecryptsAndFindsItsKekAfterARestart() throws Exception {
    List<MarkdownSamples.Sample> readme =
        MarkdownSamples.of(DocSamplesTest.ROOT, DocSamplesTest.ROOT.resolve("README.md")).stream()
            .filter(s -> s.code().contains("class UsingIt"))
            .toList();
    assertThat(readme).as("the README's UsingIt sample").hasSize(1);
    assertThat(SampleCompiler.compile(readme, out)).isEmpty();

    // The test class path as it is: keymanager-kms-aws and the other KMS modules, discovered.
    List<URL> urls = new ArrayList<>();
    urls.add(out.toUri().toURL());
    for (String entry : SampleCompiler.classPath().split(File.pathSeparator)) {
      urls.add(Path.of(entry).toUri().toURL());
    }
    try (FakeAwsKms aws = FakeAwsKms.start()) {
      String cmk = FakeAwsKms.cmk(aws.createKey()).toString();
      Map<String, String> sdk =
          Map.of(
              "aws.endpointUrlKms", aws.endpoint().toString(),
              "aws.accessKeyId", FakeAwsKms.ACCESS_KEY_ID,
              "aws.secretAccessKey", FakeAwsKms.SECRET_KEY);
      Map<String, String> previous = setProperties(sdk);
      try {
        String first = run(urls, cmk);
        assertThat(aws.requests("TrentService.Encrypt")).as("createKek's KMS Encrypt").hasSize(1);
        int decrypts = aws.requests("TrentService.Decrypt").size();
        String second = run(urls, cmk); // the same store, as after a restart: the KEK exists

        assertThat(first).isEqualTo("order 1001" + System.lineSeparator());
        assertThat(second).isEqualTo(first);
        assertThat(aws.requests("TrentService.Encrypt")).as("no second createKek").hasSize(1);
        assertThat(aws.requests("TrentService.Decrypt").size() - decrypts)
            .as("the restarted key manager unwraps its KEK with one KMS Decrypt")
            .isEqualTo(1);
        assertThat(Files.list(data.resolve("keks")).count()).isPositive();
      } finally {
        setProperties(previous);
      }
    }
  }

  /** Sets each property (removing those mapped to null); returns the values it replaced. */
  private static Map<String, String> setProperties(Map<String, String> values) {
    Map<String, String> previous = new HashMap<>();
    values.forEach(
        (k, v) -> {
          previous.put(k, System.getProperty(k));
          if (v == null) {
            System.clearProperty(k);
          } else {
            System.setProperty(k, v);
          }
        });
    return previous;
  }

  private String run(List<URL> urls, String cmk) throws Exception {
    ClassLoader previous = Thread.currentThread().getContextClassLoader();
    PrintStream stdout = System.out;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    try (URLClassLoader loader =
        new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader())) {
      Thread.currentThread().setContextClassLoader(loader);
      System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
      Class<?> sample = Class.forName("docsamples.readme.l" + line() + ".UsingIt", true, loader);
      Method main = sample.getMethod("main", String[].class);
      main.invoke(null, (Object) new String[] {cmk, data.resolve("keks").toString()});
    } finally {
      System.setOut(stdout);
      Thread.currentThread().setContextClassLoader(previous);
    }
    return captured.toString(StandardCharsets.UTF_8);
  }

  private static int line() {
    return MarkdownSamples.of(DocSamplesTest.ROOT, DocSamplesTest.ROOT.resolve("README.md"))
        .stream()
        .filter(s -> s.code().contains("class UsingIt"))
        .findFirst()
        .orElseThrow()
        .firstLine();
  }
}

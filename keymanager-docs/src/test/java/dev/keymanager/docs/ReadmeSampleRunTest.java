package dev.keymanager.docs;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the README's "Using it" sample as written, through provider discovery, with {@link
 * StandInAwsKms} in place of keymanager-kms-aws (no AWS endpoint here).
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

    // The test class path without keymanager-kms-aws, plus the stand-in's service file.
    List<URL> urls = new ArrayList<>();
    urls.add(out.toUri().toURL());
    urls.add(getClass().getResource("/readme-run/").toURI().toURL());
    for (String entry : SampleCompiler.classPath().split(File.pathSeparator)) {
      if (!entry.contains("keymanager-kms-aws")) {
        urls.add(Path.of(entry).toUri().toURL());
      }
    }
    String cmk =
        "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    String first = run(urls, cmk);
    String second = run(urls, cmk); // the same store, as after a restart: the KEK exists

    assertThat(first).isEqualTo("order 1001" + System.lineSeparator());
    assertThat(second).isEqualTo(first);
    assertThat(Files.list(data.resolve("keks")).count()).isPositive();
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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a new user does with the README: this project's pom holds its dependency snippet verbatim,
 * and this test compiles its "Using it" sample as written against that class path (the BOM-managed
 * artifacts installed from the reactor) and runs it twice on one store, the second run as after a
 * restart. The sample finds keymanager-kms-aws by discovery; the SDK's KmsClient makes signed calls
 * to FakeAwsKms on 127.0.0.1, pointed at by the SDK's own system properties.
 */
class UsingItRunTest {
  private static final Pattern JAVA = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL);
  private static final Pattern XML = Pattern.compile("```xml\n(.*?)```", Pattern.DOTALL);

  @TempDir Path classes;
  @TempDir Path data;

  @Test
  void theReadmeSnippetBuildsAndItsSampleRuns() throws Exception {
    String readme = Files.readString(Path.of(System.getProperty("readme")));

    // The dependency snippet in this pom is the README's.
    Matcher xml = XML.matcher(readme);
    assertTrue(xml.find(), "README has an xml snippet");
    String snippet = xml.group(1).strip();
    snippet = snippet.substring(0, snippet.lastIndexOf("</dependencies>")).strip();
    String pom = Files.readString(Path.of("pom.xml"));
    String ours =
        pom.substring(
                pom.indexOf("<!-- readme-snippet:start -->") + "<!-- readme-snippet:start -->".length(),
                pom.indexOf("<!-- readme-snippet:end -->"))
            .strip();
    assertEquals(snippet, ours, "this pom's dependency snippet is the README's");

    // The sample, as written.
    String sample = null;
    for (Matcher m = JAVA.matcher(readme); m.find(); ) {
      if (m.group(1).contains("class UsingIt")) {
        sample = m.group(1);
      }
    }
    assertTrue(sample != null, "README has the UsingIt sample");
    Path source = classes.resolve("UsingIt.java");
    Files.writeString(source, sample);
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    String classPath = System.getProperty("java.class.path");
    int rc =
        javac.run(
            null, null, null, "-d", classes.toString(), "-cp", classPath, source.toString());
    assertEquals(0, rc, "the README sample compiles against the BOM-managed class path");

    List<URL> urls = new ArrayList<>();
    urls.add(classes.toUri().toURL());
    for (String entry : classPath.split(File.pathSeparator)) {
      urls.add(Path.of(entry).toUri().toURL());
    }
    try (FakeAwsKms aws = FakeAwsKms.start()) {
      String cmk = FakeAwsKms.cmk(aws.createKey()).toString();
      System.setProperty("aws.endpointUrlKms", aws.endpoint().toString());
      System.setProperty("aws.accessKeyId", FakeAwsKms.ACCESS_KEY_ID);
      System.setProperty("aws.secretAccessKey", FakeAwsKms.SECRET_KEY);
      String first = run(urls, cmk);
      String second = run(urls, cmk);
      assertEquals("order 1001" + System.lineSeparator(), first);
      assertEquals(first, second);
      assertEquals(1, aws.requests("TrentService.Encrypt").size(), "one createKek");
      assertTrue(aws.requests("TrentService.Decrypt").size() >= 1, "the restart unwrapped its KEK");
    }
  }

  private String run(List<URL> urls, String cmk) throws Exception {
    ClassLoader previous = Thread.currentThread().getContextClassLoader();
    PrintStream stdout = System.out;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    try (URLClassLoader loader =
        new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader())) {
      Thread.currentThread().setContextClassLoader(loader);
      System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
      Method main = Class.forName("UsingIt", true, loader).getMethod("main", String[].class);
      main.invoke(null, (Object) new String[] {cmk, data.resolve("keks").toString()});
    } finally {
      System.setOut(stdout);
      Thread.currentThread().setContextClassLoader(previous);
    }
    return captured.toString(StandardCharsets.UTF_8);
  }
}

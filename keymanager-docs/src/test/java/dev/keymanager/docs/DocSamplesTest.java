package dev.keymanager.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every fenced {@code java} block of README.md and docs/ compiles against the current code. */
class DocSamplesTest {
  static final Path ROOT = Path.of(System.getProperty("docs.root", "..")).toAbsolutePath();

  @TempDir Path out;

  @Test
  void everyJavaBlockInTheReadmeAndTheDocsTreeCompiles() {
    List<MarkdownSamples.Sample> samples = new ArrayList<>();
    for (Path page : MarkdownSamples.pages(ROOT)) {
      samples.addAll(MarkdownSamples.of(ROOT, page));
    }

    List<String> errors = SampleCompiler.compile(samples, out);

    assertThat(samples).as("java blocks found").hasSizeGreaterThan(10);
    assertThat(errors)
        .as("broken java blocks (see CONTRIBUTING.md, 'Samples in the docs')")
        .isEmpty();
  }

  @Test
  void aBrokenBlockIsReportedAtItsPageAndLine(@TempDir Path root) throws IOException {
    Files.createDirectories(root.resolve("docs"));
    Files.writeString(root.resolve("README.md"), "# x\n");
    Files.writeString(
        root.resolve("docs/page.md"),
        String.join(
            "\n",
            "# A page",
            "<!-- java-prelude",
            "import java.util.List;",
            "List<String> names;",
            "-->",
            "",
            "```java",
            "int n = names.size();",
            "String s = n;",
            "```",
            "",
            "```java",
            "import java.util.Map;",
            "",
            "public class Whole {",
            "  Map<String, String> m = new NotAType();",
            "}",
            "```",
            ""));
    List<MarkdownSamples.Sample> samples = new ArrayList<>();
    for (Path page : MarkdownSamples.pages(root)) {
      samples.addAll(MarkdownSamples.of(root, page));
    }

    List<String> errors = SampleCompiler.compile(samples, out);

    assertThat(samples).hasSize(2);
    assertThat(errors).hasSize(2);
    assertThat(errors).anySatisfy(e -> assertThat(e).startsWith("docs/page.md:9: "));
    assertThat(errors)
        .anySatisfy(
            e -> assertThat(e).startsWith("docs/page.md:16: ").contains("cannot find symbol"));
  }
}

package dev.keymanager.docs;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The fenced {@code java} blocks of the project's Markdown pages, as Java sources.
 *
 * <p>The rule (also in CONTRIBUTING.md): a block that has a {@code package} or {@code import} line,
 * or a top-level {@code class}/{@code interface}/{@code record}/{@code enum} at column 0, is a
 * whole compilation unit, put in a package of its own unless it names one. Any other block is a
 * method body: it is compiled inside {@code void sample() throws Exception} of an abstract class
 * that holds the page's prelude, an HTML comment {@code <!-- java-prelude ... -->} whose {@code
 * import} lines become the class's imports and whose other lines become its members (fields,
 * abstract helper methods the samples call).
 */
final class MarkdownSamples {
  private static final Pattern FENCE = Pattern.compile("^\\s*```\\s*java\\s*$");
  private static final Pattern END = Pattern.compile("^\\s*```\\s*$");
  private static final Pattern UNIT =
      Pattern.compile(
          "^(package |import |((public|final|abstract|sealed|non-sealed)\\s+)*"
              + "(class|interface|record|enum)\\s)");
  private static final Pattern PUBLIC_TYPE =
      Pattern.compile(
          "^public\\s+((final|abstract|sealed|non-sealed)\\s+)*(class|interface|record|enum)\\s+"
              + "(\\w+)",
          Pattern.MULTILINE);
  private static final Pattern PRELUDE =
      Pattern.compile("<!--\\s*java-prelude\\s*\\n(.*?)-->", Pattern.DOTALL);

  /** One block of one page, and the Java source it compiles as. */
  record Sample(
      Path page,
      String pageName,
      int firstLine,
      String code,
      String source,
      String fileName,
      int prefixLines) {
    /** The Markdown line of a line of {@link #source()} (1-based both). */
    long markdownLine(long sourceLine) {
      return firstLine + (sourceLine - 1 - prefixLines);
    }
  }

  private MarkdownSamples() {}

  /** README.md and every Markdown file under docs/, sorted. */
  static List<Path> pages(Path root) {
    List<Path> pages = new ArrayList<>();
    pages.add(root.resolve("README.md"));
    for (String top : new String[] {"CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md"}) {
      if (Files.exists(root.resolve(top))) {
        pages.add(root.resolve(top));
      }
    }
    try (Stream<Path> docs = Files.walk(root.resolve("docs"))) {
      docs.filter(p -> p.toString().endsWith(".md")).sorted().forEach(pages::add);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return pages;
  }

  /** The samples of {@code page}, named relative to {@code root} in messages. */
  static List<Sample> of(Path root, Path page) {
    List<String> lines;
    String text;
    try {
      text = Files.readString(page, UTF_8);
      lines = text.lines().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    String name = root.relativize(page).toString().replace('\\', '/');
    String slug =
        name.replaceAll("\\.md$", "").replaceAll("[^A-Za-z0-9]+", "_").toLowerCase(Locale.ROOT);
    List<String> imports = new ArrayList<>();
    List<String> members = new ArrayList<>();
    Matcher prelude = PRELUDE.matcher(text);
    if (prelude.find()) {
      for (String l : prelude.group(1).lines().toList()) {
        (l.strip().startsWith("import ") ? imports : members).add(l);
      }
    }
    List<Sample> samples = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      if (!FENCE.matcher(lines.get(i)).matches()) {
        continue;
      }
      int first = i + 2; // 1-based line of the block's first code line
      StringBuilder code = new StringBuilder();
      int j = i + 1;
      while (j < lines.size() && !END.matcher(lines.get(j)).matches()) {
        code.append(lines.get(j)).append('\n');
        j++;
      }
      if (j == lines.size()) {
        throw new IllegalStateException(name + ":" + (i + 1) + ": unterminated ```java block");
      }
      samples.add(sample(page, name, slug, first, code.toString(), imports, members));
      i = j;
    }
    return samples;
  }

  private static Sample sample(
      Path page,
      String name,
      String slug,
      int first,
      String code,
      List<String> imports,
      List<String> members) {
    String pkg = "docsamples." + slug + ".l" + first;
    boolean unit = code.lines().anyMatch(l -> UNIT.matcher(l).find());
    if (unit) {
      boolean hasPackage = code.lines().anyMatch(l -> l.startsWith("package "));
      Matcher m = PUBLIC_TYPE.matcher(code);
      String type = m.find() ? m.group(4) : "Sample";
      if (hasPackage) {
        return new Sample(page, name, first, code, code, type + ".java", 0);
      }
      return new Sample(
          page, name, first, code, "package " + pkg + ";\n" + code, type + ".java", 1);
    }
    StringBuilder prefix = new StringBuilder();
    prefix.append("package ").append(pkg).append(";\n");
    imports.forEach(l -> prefix.append(l).append('\n'));
    prefix.append("@SuppressWarnings(\"all\")\nabstract class Sample {\n");
    members.forEach(l -> prefix.append(l).append('\n'));
    prefix.append("void sample() throws Exception {\n");
    int prefixLines = (int) prefix.toString().lines().count();
    String source = prefix + code + "}\n}\n";
    return new Sample(page, name, first, code, source, "Sample.java", prefixLines);
  }
}

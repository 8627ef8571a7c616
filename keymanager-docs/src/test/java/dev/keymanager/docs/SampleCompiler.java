package dev.keymanager.docs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/** Compiles {@link MarkdownSamples} with javac and reports errors at their Markdown lines. */
final class SampleCompiler {
  private SampleCompiler() {}

  /** The test class path, which surefire may hide behind a manifest-only jar. */
  static String classPath() {
    String cp = System.getProperty("surefire.test.class.path");
    return cp != null ? cp : System.getProperty("java.class.path");
  }

  /**
   * Compiles every sample into {@code out} in one javac run.
   *
   * @return one line per error, {@code PAGE:LINE: message}; empty if all compiled
   */
  static List<String> compile(List<MarkdownSamples.Sample> samples, Path out) {
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    Map<JavaFileObject, MarkdownSamples.Sample> bySource = new IdentityHashMap<>();
    for (MarkdownSamples.Sample s : samples) {
      String path = s.source().lines().findFirst().orElseThrow();
      String pkg = path.replaceAll("^package\\s+([\\w.]+);.*$", "$1");
      URI uri = URI.create("string:///" + pkg.replace('.', '/') + "/" + s.fileName());
      bySource.put(
          new SimpleJavaFileObject(uri, JavaFileObject.Kind.SOURCE) {
            @Override
            public CharSequence getCharContent(boolean ignoreEncodingErrors) {
              return s.source();
            }
          },
          s);
    }
    try {
      Files.createDirectories(out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<String> options =
        List.of("--release", "17", "-proc:none", "-classpath", classPath(), "-d", out.toString());
    try (StandardJavaFileManager files = javac.getStandardFileManager(null, Locale.ROOT, null)) {
      javac
          .getTask(Writer.nullWriter(), files, diagnostics, options, null, bySource.keySet())
          .call();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<String> errors = new ArrayList<>();
    for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
      if (d.getKind() != Diagnostic.Kind.ERROR) {
        continue;
      }
      MarkdownSamples.Sample s = bySource.get(d.getSource());
      String where =
          s == null ? "(no source)" : s.pageName() + ":" + s.markdownLine(d.getLineNumber());
      errors.add(where + ": " + d.getMessage(Locale.ROOT).strip().replace('\n', ' '));
    }
    return errors;
  }
}

package dev.keymanager.cli;

import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;

/**
 * The resume point of a bulk rewrap, written crash-safely: which run it belongs to (a fingerprint
 * of its inputs), how many inputs are done, and the counts so far.
 */
record ProgressFile(
    String mode,
    String fingerprint,
    long position,
    long rewrapped,
    long unchanged,
    long outputBytes,
    boolean complete) {

  static Optional<ProgressFile> read(Path file) {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      p.load(r);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    try {
      return Optional.of(
          new ProgressFile(
              p.getProperty("mode", ""),
              p.getProperty("fingerprint", ""),
              Long.parseLong(p.getProperty("position", "0")),
              Long.parseLong(p.getProperty("rewrapped", "0")),
              Long.parseLong(p.getProperty("unchanged", "0")),
              Long.parseLong(p.getProperty("outputBytes", "0")),
              Boolean.parseBoolean(p.getProperty("complete", "false"))));
    } catch (NumberFormatException e) {
      throw CliException.invalidInput("progress file " + file + " is not a rewrap progress file");
    }
  }

  void write(Path file) throws IOException {
    Properties p = new Properties();
    p.setProperty("mode", mode);
    p.setProperty("fingerprint", fingerprint);
    p.setProperty("position", Long.toString(position));
    p.setProperty("rewrapped", Long.toString(rewrapped));
    p.setProperty("unchanged", Long.toString(unchanged));
    p.setProperty("outputBytes", Long.toString(outputBytes));
    p.setProperty("complete", Boolean.toString(complete));
    StringWriter w = new StringWriter();
    p.store(w, "keymanager rewrap progress");
    FileOps.writeAtomically(file, w.toString().getBytes(StandardCharsets.UTF_8));
  }
}

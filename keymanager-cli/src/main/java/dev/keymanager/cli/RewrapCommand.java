package dev.keymanager.cli;

import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.envelope.EnvelopeCipher;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code keymanager rewrap}: moves envelope files, or a list of wrapped DEKs, to their KEK's
 * primary version, crash-safely and resumably.
 *
 * <p>Envelope files are rewritten whole: the v1 envelope format authenticates its header (which
 * holds the wrapped DEK) together with the body, so a new header needs a new body. Each file is
 * decrypted and encrypted again under a fresh DEK from the primary version into a sibling temporary
 * file, which is forced and renamed over the original; a kill at any instant leaves each file
 * wholly old or wholly new. Progress is recorded after the directory renames are forced, so a
 * resumed run never skips a file whose new bytes could be lost; files already under the primary
 * version are skipped.
 */
@Command(
    name = "rewrap",
    mixinStandardHelpOptions = true,
    description = {
      "Move envelope files (FILE or DIR arguments, walked recursively, in sorted order), or a file"
          + " of wrapped DEKs (--keys, one Base64 or hex key per line), to their KEK's primary"
          + " version. Files are replaced crash-safely (temporary file, fsync, rename);"
          + " --progress-file records where to --resume after a kill."
    })
final class RewrapCommand extends BaseCommand {
  static final class Inputs {
    @Parameters(paramLabel = "PATH", arity = "1..*", description = "Envelope files or directories.")
    List<Path> paths;

    @Option(
        names = "--keys",
        paramLabel = "FILE",
        description = "A file of wrapped DEKs, one per line; results go to --out.")
    Path keys;
  }

  @ArgGroup(multiplicity = "1")
  Inputs inputs;

  @Option(names = "--out", paramLabel = "FILE", description = "With --keys: the rewrapped keys.")
  Path keysOut;

  @Option(
      names = "--progress-file",
      paramLabel = "FILE",
      description = "Where progress is recorded (crash-safely) for --resume.")
  Path progressFile;

  @Option(names = "--resume", description = "Continue from --progress-file.")
  boolean resume;

  @Option(
      names = "--progress-every",
      paramLabel = "N",
      defaultValue = "1000",
      description = "Without a terminal: one progress line every N inputs; default 1000.")
  long progressEvery;

  @Option(
      names = "--checkpoint-every",
      paramLabel = "N",
      defaultValue = "100",
      description = "Record progress every N inputs; default 100.")
  long checkpointEvery;

  @Mixin ContextOption context;

  private long rewrapped;
  private long unchanged;

  @Override
  int run() throws Exception {
    if (resume && progressFile == null) {
      throw CliException.invalidInput("--resume needs --progress-file");
    }
    if (checkpointEvery < 1) {
      throw CliException.invalidInput("--checkpoint-every must be >= 1");
    }
    if (inputs.keys != null && keysOut == null) {
      throw CliException.invalidInput("--keys needs --out FILE for the rewrapped keys");
    }
    if (inputs.keys == null && keysOut != null) {
      throw CliException.invalidInput("--out goes with --keys only: files are rewrapped in place");
    }
    try (Session s = session()) {
      return inputs.keys != null ? rewrapKeys(s) : rewrapFiles(s);
    }
  }

  private ProgressFile resumePoint(String mode, String fingerprint) {
    if (!resume) {
      return null;
    }
    ProgressFile p = ProgressFile.read(progressFile).orElse(null);
    if (p == null) {
      return null; // nothing recorded yet: start at the beginning
    }
    if (!p.mode().equals(mode) || !p.fingerprint().equals(fingerprint)) {
      throw CliException.invalidInput(
          "progress file "
              + progressFile
              + " belongs to another rewrap (other inputs); start without --resume");
    }
    return p;
  }

  private void checkpoint(
      String mode, String fingerprint, long position, long outputBytes, boolean complete)
      throws IOException {
    if (progressFile != null) {
      new ProgressFile(mode, fingerprint, position, rewrapped, unchanged, outputBytes, complete)
          .write(progressFile);
    }
  }

  // ---- envelope files

  private int rewrapFiles(Session s) throws IOException {
    List<Path> files = expand(inputs.paths);
    String fingerprint = fingerprint(files.stream().map(Path::toString).toList());
    ProgressFile from = resumePoint("files", fingerprint);
    long start = from == null ? 0 : from.position();
    if (from != null) {
      rewrapped = from.rewrapped();
      unchanged = from.unchanged();
    }
    Map<String, Integer> primaries = new HashMap<>();
    Set<Path> dirty = new LinkedHashSet<>();
    ProgressReporter progress =
        new ProgressReporter(err(), env().terminal(), files.size(), progressEvery, start);
    KeyContext ctx = context.context();
    long position = start;
    try {
      for (; position < files.size(); position++) {
        Path f = files.get((int) position);
        if (rewrapFile(s.keys(), f, ctx, primaries)) {
          rewrapped++;
          dirty.add(f.toAbsolutePath().getParent());
        } else {
          unchanged++;
        }
        long done = position + 1;
        if (done % checkpointEvery == 0 && done < files.size()) {
          forceAll(dirty);
          checkpoint("files", fingerprint, done, 0, false);
        }
        progress.update(done, rewrapped, unchanged);
      }
    } catch (RuntimeException | IOException e) {
      forceAll(dirty);
      checkpoint("files", fingerprint, position, 0, false);
      progress.finish(position, rewrapped, unchanged);
      throw new CliException(
          ExitCodes.of(e),
          "rewrap stopped at "
              + files.get((int) position)
              + " ("
              + position
              + " of "
              + files.size()
              + " done): "
              + ExitCodes.describe(e)
              + (progressFile != null ? "; fix it and run again with --resume" : ""));
    }
    forceAll(dirty);
    checkpoint("files", fingerprint, files.size(), 0, true);
    progress.finish(files.size(), rewrapped, unchanged);
    report(files.size());
    return ExitCodes.OK;
  }

  private void report(long total) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("total", total);
    m.put("rewrapped", rewrapped);
    m.put("unchanged", unchanged);
    m.put("complete", true);
    print(
        m,
        "rewrap complete: "
            + total
            + " ("
            + rewrapped
            + " rewrapped, "
            + unchanged
            + " unchanged)");
  }

  private static void forceAll(Set<Path> dirs) {
    for (Path d : dirs) {
      FileOps.forceDirectory(d);
    }
    dirs.clear();
  }

  /** Rewrites one file under its KEK's primary version; false if it is under it already. */
  private static boolean rewrapFile(
      KeyManager keys, Path f, KeyContext ctx, Map<String, Integer> primaries) throws IOException {
    Path temp = FileOps.tempFor(f);
    Files.deleteIfExists(temp); // left by a killed run
    byte[] head = EncryptCommand.head(f);
    KekRef ref = EnvelopeCipher.kekOf(head);
    int primary =
        primaries.computeIfAbsent(ref.id(), id -> KekCommands.describe(keys, id).primaryVersion());
    if (ref.version() == primary) {
      return false;
    }
    try {
      if (head[3] == 1) {
        EnvelopeCipher cipher = EnvelopeCipher.of(keys, ref.id());
        byte[] plain = cipher.decrypt(Files.readAllBytes(f), ctx);
        try {
          Files.write(temp, cipher.encrypt(plain, ctx));
        } finally {
          Arrays.fill(plain, (byte) 0);
        }
      } else {
        EnvelopeCipher cipher =
            EnvelopeCipher.builder(keys, ref.id()).segmentSize(Payloads.segmentSize(head)).build();
        try (InputStream in = cipher.newDecryptingStream(Files.newInputStream(f), ctx);
            OutputStream out = cipher.newEncryptingStream(Files.newOutputStream(temp), ctx)) {
          in.transferTo(out);
        }
      }
      FileOps.force(temp);
      FileOps.replace(temp, f);
    } catch (RuntimeException | IOException e) {
      Files.deleteIfExists(temp);
      throw e;
    }
    return true;
  }

  private static List<Path> expand(List<Path> paths) throws IOException {
    Set<Path> out = new java.util.TreeSet<>();
    for (Path p : paths) {
      if (Files.isDirectory(p)) {
        try (Stream<Path> walk = Files.walk(p)) {
          walk.filter(Files::isRegularFile)
              .filter(x -> !x.getFileName().toString().endsWith(FileOps.TEMP_SUFFIX))
              .forEach(x -> out.add(x.normalize()));
        }
      } else if (Files.isRegularFile(p)) {
        out.add(p.normalize());
      } else {
        throw new java.nio.file.NoSuchFileException(p.toString());
      }
    }
    return new ArrayList<>(out);
  }

  static String fingerprint(List<String> items) {
    try {
      MessageDigest d = MessageDigest.getInstance("SHA-256");
      for (String s : items) {
        d.update(s.getBytes(StandardCharsets.UTF_8));
        d.update((byte) 0);
      }
      return HexFormat.of().formatHex(d.digest(), 0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  // ---- a list of wrapped keys

  private int rewrapKeys(Session s) throws IOException {
    List<String> lines = Files.readAllLines(inputs.keys, StandardCharsets.UTF_8);
    String fingerprint = fingerprint(lines);
    Path temp = FileOps.tempFor(keysOut);
    ProgressFile from = resumePoint("keys", fingerprint);
    if (from != null && from.complete()) {
      if (Files.exists(temp)) {
        FileOps.replace(temp, keysOut); // killed after the last checkpoint, before the rename
      }
      report(lines.size());
      return ExitCodes.OK;
    }
    long start = 0;
    if (from != null) {
      start = from.position();
      rewrapped = from.rewrapped();
      unchanged = from.unchanged();
      try (var ch =
          java.nio.channels.FileChannel.open(temp, java.nio.file.StandardOpenOption.WRITE)) {
        ch.truncate(from.outputBytes());
      }
    } else {
      Files.write(temp, new byte[0]);
    }
    KeyContext ctx = context.context();
    ProgressReporter progress =
        new ProgressReporter(err(), env().terminal(), lines.size(), progressEvery, start);
    long position = start;
    try (var ch =
        java.nio.channels.FileChannel.open(
            temp,
            java.nio.file.StandardOpenOption.WRITE,
            java.nio.file.StandardOpenOption.APPEND)) {
      try {
        for (; position < lines.size(); position++) {
          String line = lines.get((int) position).strip();
          String outLine;
          if (line.isEmpty() || line.startsWith("#")) {
            outLine = line;
          } else {
            boolean hex = line.matches("(?i)[0-9a-f]+") && line.length() % 2 == 0;
            WrappedKey before =
                WrappedKey.decode(hex ? Inspector.decodeHex(line) : Inspector.decodeBase64(line));
            WrappedKey after = s.keys().rewrapDek(before, ctx);
            if (after.kek().equals(before.kek())) {
              unchanged++;
              outLine = line;
            } else {
              rewrapped++;
              outLine =
                  hex
                      ? HexFormat.of().formatHex(after.encode())
                      : java.util.Base64.getEncoder().encodeToString(after.encode());
            }
          }
          ch.write(java.nio.ByteBuffer.wrap((outLine + "\n").getBytes(StandardCharsets.UTF_8)));
          long done = position + 1;
          if (done % checkpointEvery == 0 && done < lines.size()) {
            ch.force(true);
            checkpoint("keys", fingerprint, done, ch.size(), false);
          }
          progress.update(done, rewrapped, unchanged);
        }
      } catch (RuntimeException e) {
        ch.force(true);
        checkpoint("keys", fingerprint, position, ch.size(), false);
        progress.finish(position, rewrapped, unchanged);
        throw new CliException(
            ExitCodes.of(e),
            "rewrap stopped at line "
                + (position + 1)
                + " of "
                + inputs.keys
                + ": "
                + ExitCodes.describe(e)
                + (progressFile != null ? "; fix it and run again with --resume" : ""));
      }
      ch.force(true);
    }
    checkpoint("keys", fingerprint, lines.size(), Files.size(temp), true);
    FileOps.replace(temp, keysOut);
    Path dir = keysOut.toAbsolutePath().getParent();
    if (dir != null) {
      FileOps.forceDirectory(dir);
    }
    progress.finish(lines.size(), rewrapped, unchanged);
    report(lines.size());
    return ExitCodes.OK;
  }
}

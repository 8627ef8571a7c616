package dev.keymanager.cli;

import dev.keymanager.core.envelope.EnvelopeCipher;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code keymanager encrypt}: a file through {@link EnvelopeCipher}'s streaming format. */
@Command(
    name = "encrypt",
    mixinStandardHelpOptions = true,
    description =
        "Encrypt a file (streaming, 64 KiB segments) under a new DEK wrapped by the KEK's primary"
            + " version. The output is written to a temporary file and renamed into place.")
final class EncryptCommand extends BaseCommand {
  @Option(names = "--kek", required = true, paramLabel = "KEK_ID", description = "The KEK.")
  String kek;

  @Option(
      names = "--in",
      required = true,
      paramLabel = "FILE",
      description = "Plaintext; '-' stdin.")
  String in;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "Ciphertext file.")
  Path out;

  @Option(
      names = "--segment-size",
      paramLabel = "BYTES",
      description = "Ciphertext segment size, 4096..4194304, a power of two; default 65536.")
  int segmentSize = EnvelopeCipher.DEFAULT_SEGMENT_SIZE;

  @Mixin ContextOption context;

  @Override
  int run() throws Exception {
    try (Session s = session()) {
      EnvelopeCipher cipher =
          EnvelopeCipher.builder(s.keys(), kek).segmentSize(segmentSize).build();
      Path temp = FileOps.tempFor(out);
      long n;
      try (InputStream src = in.equals("-") ? env().in() : Files.newInputStream(Path.of(in));
          OutputStream dst =
              cipher.newEncryptingStream(Files.newOutputStream(temp), context.context())) {
        n = src.transferTo(dst);
      } catch (RuntimeException | java.io.IOException e) {
        Files.deleteIfExists(temp);
        throw e;
      }
      FileOps.force(temp);
      FileOps.replace(temp, out);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("file", out.toString());
      m.put("kekId", kek);
      m.put("kekVersion", EnvelopeCipher.kekOf(head(out)).version());
      m.put("plaintextLength", n);
      m.put("ciphertextLength", Files.size(out));
      print(m, "encrypted " + n + " bytes to " + out + " under KEK " + kek);
    }
    return ExitCodes.OK;
  }

  static byte[] head(Path file) throws java.io.IOException {
    try (InputStream i = Files.newInputStream(file)) {
      return i.readNBytes(Inspector.HEADER_BYTES);
    }
  }
}

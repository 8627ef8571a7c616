package dev.keymanager.cli;

import dev.keymanager.KekRef;
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

/** {@code keymanager decrypt}: a payload file back to its plaintext. */
@Command(
    name = "decrypt",
    mixinStandardHelpOptions = true,
    description =
        "Decrypt an envelope payload (streaming or one-shot). Plaintext goes to a temporary file,"
            + " renamed into place only once every segment authenticated.")
final class DecryptCommand extends BaseCommand {
  @Option(names = "--in", required = true, paramLabel = "FILE", description = "Payload file.")
  Path in;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "Plaintext file.")
  Path out;

  @Mixin ContextOption context;

  @Override
  int run() throws Exception {
    KekRef ref = EnvelopeCipher.kekOf(EncryptCommand.head(in));
    try (Session s = session()) {
      EnvelopeCipher cipher = EnvelopeCipher.of(s.keys(), ref.id());
      Path temp = FileOps.tempFor(out);
      long n;
      try {
        if (Payloads.isOneShot(in)) {
          byte[] plain = cipher.decrypt(Files.readAllBytes(in), context.context());
          Files.write(temp, plain);
          n = plain.length;
        } else {
          try (InputStream src =
                  cipher.newDecryptingStream(Files.newInputStream(in), context.context());
              OutputStream dst = Files.newOutputStream(temp)) {
            n = src.transferTo(dst);
          }
        }
      } catch (RuntimeException | java.io.IOException e) {
        Files.deleteIfExists(temp);
        throw e;
      }
      FileOps.force(temp);
      FileOps.replace(temp, out);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("file", out.toString());
      m.put("kekId", ref.id());
      m.put("kekVersion", ref.version());
      m.put("plaintextLength", n);
      print(m, "decrypted " + n + " bytes to " + out + " (KEK " + ref + ")");
    }
    return ExitCodes.OK;
  }
}

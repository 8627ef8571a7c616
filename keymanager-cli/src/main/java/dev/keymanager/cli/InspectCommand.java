package dev.keymanager.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code keymanager inspect}: what a wrapped key or payload refers to, without any key. */
@Command(
    name = "inspect",
    mixinStandardHelpOptions = true,
    description = {
      "Decode a wrapped key or an envelope payload header: format, algorithm, KEK id and version,"
          + " segment size, lengths. Never prints key bytes and needs no store or KMS.",
      "Input: a FILE (binary, hex or Base64 text), '-' for stdin, or --hex / --base64."
    })
final class InspectCommand extends BaseCommand {
  static final class Source {
    @Parameters(
        paramLabel = "FILE",
        description = "File to read, or '-' for standard input.",
        arity = "1")
    String file;

    @Option(names = "--hex", paramLabel = "HEX", description = "The input as hex digits.")
    String hex;

    @Option(names = "--base64", paramLabel = "B64", description = "The input as Base64.")
    String base64;
  }

  @ArgGroup(multiplicity = "1")
  Source source;

  @Override
  int run() throws IOException {
    Verbosity.set(global.verbose.length);
    byte[] bytes;
    long total;
    if (source.hex != null) {
      bytes = Inspector.decodeHex(source.hex);
      total = bytes.length;
    } else if (source.base64 != null) {
      bytes = Inspector.decodeBase64(source.base64);
      total = bytes.length;
    } else if (source.file.equals("-")) {
      bytes = Inspector.decodeInput(readCapped(env().in()));
      total = bytes.length;
    } else {
      Path p = Path.of(source.file);
      total = Files.size(p);
      try (InputStream in = Files.newInputStream(p)) {
        // A binary payload needs only its header; text must be read whole to be decoded.
        bytes = in.readNBytes(Inspector.HEADER_BYTES);
        if (!Inspector.hasMagic(bytes)) {
          if (total > 64L << 20) {
            throw CliException.invalidInput(
                "not a keymanager wrapped key (magic KW) or envelope payload (magic KE)");
          }
          byte[] rest = in.readAllBytes();
          byte[] all = Arrays.copyOf(bytes, bytes.length + rest.length);
          System.arraycopy(rest, 0, all, bytes.length, rest.length);
          bytes = Inspector.decodeInput(all);
          total = bytes.length;
        }
      }
    }
    Map<String, Object> fields = Inspector.inspect(bytes, total);
    print(fields, Inspector.text(fields));
    return ExitCodes.OK;
  }

  private static byte[] readCapped(InputStream in) throws IOException {
    byte[] b = in.readNBytes(64 << 20);
    if (in.read() >= 0) {
      throw CliException.invalidInput("standard input longer than 64 MiB: inspect a file instead");
    }
    return b;
  }
}

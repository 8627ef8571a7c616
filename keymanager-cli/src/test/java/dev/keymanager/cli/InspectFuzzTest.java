package dev.keymanager.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.envelope.EnvelopeCipher;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code inspect} on 10^4 malformed inputs (keymanager.inspect.fuzz.inputs; -Psoak: 10^5): mutated
 * wrapped keys and payloads, as binary on stdin, hex and Base64. Each either decodes (exit 0) or
 * gets the documented one-line error and exit code 2; never a stack trace, never another code.
 */
class InspectFuzzTest {
  /** Standard input the test can point at new bytes between runs of one command line. */
  static final class SwappableIn extends InputStream {
    InputStream current = new ByteArrayInputStream(new byte[0]);

    @Override
    public int read() throws java.io.IOException {
      return current.read();
    }

    @Override
    public int read(byte[] b, int off, int len) throws java.io.IOException {
      return current.read(b, off, len);
    }
  }

  @Test
  void malformedInputsGetOneLineAndExitCodeTwo() throws Exception {
    int inputs = Integer.getInteger("keymanager.inspect.fuzz.inputs", 10_000);
    FakeKms kms = new FakeKms();
    List<byte[]> seeds;
    try (KeyManager keys =
        KeyManagers.builder().kekStore(KekStores.inMemory()).kmsProvider(kms).build()) {
      keys.admin().createKek("tenant-é/1", FakeKms.cmk("k"));
      EnvelopeCipher c = EnvelopeCipher.builder(keys, "tenant-é/1").segmentSize(4096).build();
      ByteArrayOutputStream streamed = new ByteArrayOutputStream();
      try (OutputStream out = c.newEncryptingStream(streamed, KeyContext.empty())) {
        out.write(new byte[10_000]);
      }
      byte[] oneShot = c.encrypt(new byte[50], KeyContext.empty());
      int w = ((oneShot[4] & 0xFF) << 8) | (oneShot[5] & 0xFF);
      seeds = List.of(oneShot, streamed.toByteArray(), Arrays.copyOfRange(oneShot, 6, 6 + w));
    }
    SwappableIn in = new SwappableIn();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl =
        Cli.commandLine(
            new CliEnv(in, Map.of(), false, List.of(), getClass().getClassLoader()),
            new PrintWriter(out),
            new PrintWriter(err));
    Random random = new Random(1019);
    int decoded = 0;
    for (int i = 0; i < inputs; i++) {
      byte[] b = mutate(seeds.get(random.nextInt(seeds.size())), random);
      out.getBuffer().setLength(0);
      err.getBuffer().setLength(0);
      int code;
      switch (i % 3) {
        case 0 -> {
          in.current = new ByteArrayInputStream(b);
          code = cl.execute("inspect", "-");
        }
        case 1 -> code = cl.execute("inspect", "--hex", HexFormat.of().formatHex(b));
        default -> code = cl.execute("inspect", "--base64", Base64.getEncoder().encodeToString(b));
      }
      String e = err.toString();
      assertThat(code).as("exit code for input %d; stderr %s", i, e).isIn(0, 2);
      if (code == 2) {
        assertThat(e).as("input %d", i).startsWith("keymanager: ").endsWith(System.lineSeparator());
        assertThat(e.strip()).as("input %d", i).doesNotContain("\n").doesNotContain("\tat ");
        assertThat(e).doesNotContain("Exception");
        assertThat(out.toString()).isEmpty();
      } else {
        decoded++;
        assertThat(out.toString()).contains("kekId");
      }
    }
    assertThat(decoded).as("mutations that still decode").isPositive().isLessThan(inputs);
  }

  private static byte[] mutate(byte[] seed, Random r) {
    byte[] b = seed.clone();
    switch (r.nextInt(6)) {
      case 0 -> b = Arrays.copyOf(b, r.nextInt(b.length + 1)); // truncate
      case 1 -> {
        for (int k = 1 + r.nextInt(4); k > 0; k--) {
          b[r.nextInt(Math.min(b.length, 80))] ^= (byte) (1 << r.nextInt(8)); // header bit flips
        }
      }
      case 2 -> b[r.nextInt(Math.min(b.length, 8))] = (byte) r.nextInt(256); // length/kind/version
      case 3 -> {
        b = new byte[r.nextInt(64)];
        r.nextBytes(b);
        if (b.length > 1 && r.nextBoolean()) {
          b[0] = 'K';
          b[1] = r.nextBoolean() ? (byte) 'W' : (byte) 'E';
        }
      }
      case 4 -> b = Arrays.copyOf(b, b.length + 1 + r.nextInt(100)); // extended
      default -> {} // unchanged: a valid input
    }
    return b;
  }
}

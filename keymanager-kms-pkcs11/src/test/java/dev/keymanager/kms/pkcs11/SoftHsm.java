package dev.keymanager.kms.pkcs11;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.Provider;
import java.security.Security;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.crypto.SecretKey;

/**
 * A real SoftHSM 2 for the tests: a fresh token directory in a temporary folder, and the tokens
 * every test class uses, made with {@code softhsm2-util --init-token} before any test opens the
 * library.
 *
 * <p>SoftHSM reads its configuration file from {@code SOFTHSM2_CONF} once per process, when the
 * library is loaded, and sees only the tokens that exist then. The module's surefire configuration
 * sets the variable to a file under {@code target/}; this class writes that file, pointing at the
 * temporary token directory, and creates all tokens in its static initialiser. Every test class
 * reaches the token through this class first, so the order of test classes does not matter.
 *
 * <p>Tokens: {@value #MAIN} (most tests), {@value #PIN_TEST} (only the wrong-PIN test logs in to
 * it: PKCS#11 login is per process, so once logged in a wrong PIN would not be noticed), and
 * {@value #REMOVED}, deleted again with {@code softhsm2-util --delete-token} so that its slot is
 * gone.
 *
 * <p>If SoftHSM is not installed the tests fail (never skip) with a message naming the package.
 */
final class SoftHsm {
  static final String MAIN = "kmtest";
  static final String PIN_TEST = "pin-test";
  static final String REMOVED = "removed";
  static final String PIN = "user-pin-8531";
  private static final String SO_PIN = "so-pin-4172";
  private static final List<Path> LIBRARIES =
      List.of(
          Path.of("/usr/lib/softhsm/libsofthsm2.so"),
          Path.of("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
          Path.of("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
          Path.of("/usr/local/lib/softhsm/libsofthsm2.so"));
  private static final Pattern SLOT = Pattern.compile("reassigned to slot (\\d+)");

  static final Path LIBRARY;
  private static final Map<String, Long> SLOTS = new LinkedHashMap<>();
  private static int admins;

  static {
    LIBRARY =
        LIBRARIES.stream()
            .filter(Files::isRegularFile)
            .findFirst()
            .orElseThrow(
                () ->
                    new IllegalStateException(
                        "SoftHSM 2 is not installed (no libsofthsm2.so in "
                            + LIBRARIES
                            + "). These tests need a real PKCS#11 token: install the Debian"
                            + " package softhsm2 (apt-get install -y softhsm2); .ci/run does."));
    String conf = System.getenv("SOFTHSM2_CONF");
    if (conf == null || conf.isBlank()) {
      throw new IllegalStateException(
          "SOFTHSM2_CONF is not set: run these tests through Maven, whose surefire configuration"
              + " for keymanager-kms-pkcs11 sets it");
    }
    try {
      Path tokens = Files.createTempDirectory("keymanager-softhsm-");
      Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(tokens)));
      Path confFile = Path.of(conf);
      Files.createDirectories(confFile.toAbsolutePath().getParent());
      Files.writeString(
          confFile,
          "directories.tokendir = "
              + tokens
              + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
          UTF_8);
      for (String label : List.of(MAIN, PIN_TEST, REMOVED)) {
        String out =
            softhsm2Util(
                "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN);
        Matcher m = SLOT.matcher(out);
        if (!m.find()) {
          throw new IllegalStateException("softhsm2-util did not name the slot: " + out);
        }
        SLOTS.put(label, Long.parseLong(m.group(1)));
      }
      softhsm2Util("--delete-token", "--token", REMOVED);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private SoftHsm() {}

  static long slot(String label) {
    return SLOTS.get(label);
  }

  static URI cmk(String object) {
    return URI.create("pkcs11:token=" + MAIN + ";object=" + object);
  }

  /** A builder for a provider of the {@value #MAIN} token with the right PIN. */
  static Pkcs11KmsProvider.Builder builder() {
    return Pkcs11KmsProvider.builder().library(LIBRARY).token(MAIN, slot(MAIN), PIN.toCharArray());
  }

  /**
   * A separate SunPKCS11 instance on the {@value #MAIN} token, logged in: what an operator's tool
   * would use to delete or import keys behind the provider's back. {@code generateTemplate} goes
   * into the generate template (such as {@code CKA_DECRYPT = false}); imported keys are sensitive
   * and unextractable.
   */
  static KeyStore admin(String generateTemplate) {
    String config =
        "--name = admin"
            + (++admins)
            + "\nlibrary = "
            + LIBRARY
            + "\nslot = "
            + slot(MAIN)
            + "\nattributes(generate, CKO_SECRET_KEY, CKK_AES) = {\n"
            + "  CKA_TOKEN = false\n  CKA_SENSITIVE = true\n  CKA_EXTRACTABLE = false\n"
            + generateTemplate
            + "}\n"
            + "attributes(import, CKO_SECRET_KEY, CKK_AES) = {\n"
            + "  CKA_SENSITIVE = true\n  CKA_EXTRACTABLE = false\n"
            + "}\n";
    try {
      Provider p = Security.getProvider("SunPKCS11").configure(config);
      KeyStore ks = KeyStore.getInstance("PKCS11", p);
      ks.load(null, PIN.toCharArray());
      return ks;
    } catch (Exception e) {
      throw new IllegalStateException("could not open the admin view of the token", e);
    }
  }

  static KeyStore admin() {
    return admin("");
  }

  /**
   * Imports {@code key} under {@code object}, sensitive and unextractable: known key bytes on the
   * token, for the golden vectors only (a real CMK is generated inside the token).
   */
  static void importKey(String object, byte[] key) {
    try {
      KeyStore ks = admin();
      if (ks.containsAlias(object)) {
        ks.deleteEntry(object);
      }
      ks.setEntry(
          object,
          new KeyStore.SecretKeyEntry(new javax.crypto.spec.SecretKeySpec(key, "AES")),
          null);
    } catch (Exception e) {
      throw new IllegalStateException("could not import " + object, e);
    }
  }

  /** Deletes the key object labelled {@code object}, as an operator revoking the CMK would. */
  static void deleteObject(String object) {
    try {
      KeyStore ks = admin();
      ks.deleteEntry(object);
      if (ks.containsAlias(object)) {
        throw new IllegalStateException(object + " is still on the token");
      }
    } catch (Exception e) {
      throw new IllegalStateException("could not delete " + object, e);
    }
  }

  /** The key object as the admin view sees it. */
  static SecretKey object(String object) {
    try {
      return (SecretKey) admin().getKey(object, null);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static String softhsm2Util(String... args) throws IOException {
    String[] command = new String[args.length + 1];
    command[0] = "softhsm2-util";
    System.arraycopy(args, 0, command, 1, args.length);
    Process p;
    try {
      p = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IllegalStateException(
          "softhsm2-util cannot be run: install the Debian package softhsm2"
              + " (apt-get install -y softhsm2)",
          e);
    }
    try {
      String out = new String(p.getInputStream().readAllBytes(), UTF_8);
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException("softhsm2-util " + args[0] + " failed: " + out);
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static void deleteTree(Path root) {
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // best effort at exit
    }
  }
}

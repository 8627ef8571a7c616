package dev.keymanager.cli;

import dev.keymanager.KekDescription;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyManager;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code keymanager kek ...}: the KEK lifecycle. */
@Command(
    name = "kek",
    mixinStandardHelpOptions = true,
    description = "KEK lifecycle: list, describe, create, import, rotate, disable, destroy...",
    subcommands = {
      KekCommands.ListKeks.class,
      KekCommands.DescribeKek.class,
      KekCommands.Create.class,
      KekCommands.Import.class,
      KekCommands.Rotate.class,
      KekCommands.MinVersion.class,
      KekCommands.ChangeCmk.class,
      KekCommands.Disable.class,
      KekCommands.Enable.class,
      KekCommands.ScheduleDestruction.class,
      KekCommands.CancelDestruction.class,
      KekCommands.DestroyDue.class
    })
final class KekCommands {
  private KekCommands() {}

  static URI cmk(String s) {
    try {
      URI u = new URI(s);
      if (u.getScheme() == null) {
        throw CliException.invalidInput("--cmk wants a KMS key URI such as aws-kms://arn:...");
      }
      return u;
    } catch (URISyntaxException e) {
      throw CliException.invalidInput("--cmk is not a URI: " + e.getMessage());
    }
  }

  static KekDescription describe(KeyManager keys, String id) {
    return keys.admin()
        .describeKekVersions(id)
        .orElseThrow(() -> new KekStateException(id, null, "No KEK '" + id + "' in the store"));
  }

  /** A command on one KEK id that changes it and prints the result. */
  abstract static class OnKek extends BaseCommand {
    @Parameters(index = "0", paramLabel = "KEK_ID", description = "The KEK id.")
    String id;

    abstract KekDescription apply(Session s);

    @Override
    int run() {
      try (Session s = session()) {
        KekDescription d = apply(s);
        print(Describe.kek(d), Describe.kekText(d));
      }
      return ExitCodes.OK;
    }
  }

  @Command(name = "list", mixinStandardHelpOptions = true, description = "List every KEK.")
  static final class ListKeks extends BaseCommand {
    @Override
    int run() {
      try (Session s = session()) {
        List<Object> data = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        for (String id : s.keys().admin().listKeks()) {
          KekDescription d = describe(s.keys(), id);
          data.add(
              Map.of(
                  "id", id,
                  "state", d.state().name(),
                  "primaryVersion", d.primaryVersion(),
                  "cmk", d.cmkUri().toString()));
          if (text.length() > 0) {
            text.append(System.lineSeparator());
          }
          text.append(
              String.format("%-30s %-20s v%-4d %s", id, d.state(), d.primaryVersion(), d.cmkUri()));
        }
        print(data, text.length() == 0 ? "(no KEKs)" : text.toString());
      }
      return ExitCodes.OK;
    }
  }

  @Command(
      name = "describe",
      mixinStandardHelpOptions = true,
      description = "Every version of a KEK: state, CMK, timestamps.")
  static final class DescribeKek extends OnKek {
    @Override
    KekDescription apply(Session s) {
      return describe(s.keys(), id);
    }
  }

  @Command(
      name = "create",
      mixinStandardHelpOptions = true,
      description = "Create a KEK: a new random key wrapped by the CMK (needs KMS wrap rights).")
  static final class Create extends OnKek {
    @Option(names = "--cmk", required = true, paramLabel = "URI", description = "The CMK URI.")
    String cmk;

    @Override
    KekDescription apply(Session s) {
      s.keys().admin().createKek(id, s.checkCmk(cmk(cmk)));
      return describe(s.keys(), id);
    }
  }

  @Command(
      name = "import",
      mixinStandardHelpOptions = true,
      description =
          "Import a KEK the customer pre-wrapped with the CMK (needs unwrap rights only).")
  static final class Import extends OnKek {
    @Option(names = "--cmk", required = true, paramLabel = "URI", description = "The CMK URI.")
    String cmk;

    @Option(names = "--version", defaultValue = "1", description = "The KEK version; default 1.")
    int version;

    static final class Material {
      @Option(
          names = "--wrapped-file",
          paramLabel = "FILE",
          description = "File holding the KMS ciphertext of the KEK (raw bytes).")
      Path file;

      @Option(
          names = "--wrapped-base64",
          paramLabel = "B64",
          description = "The KMS ciphertext of the KEK in Base64.")
      String base64;
    }

    @ArgGroup(multiplicity = "1")
    Material material;

    @Override
    KekDescription apply(Session s) {
      byte[] wrapped;
      try {
        wrapped =
            material.file != null
                ? Files.readAllBytes(material.file)
                : Inspector.decodeBase64(material.base64);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      if (version < 1) {
        throw CliException.invalidInput("--version must be >= 1");
      }
      s.keys().admin().importKek(new KekRef(id, version), s.checkCmk(cmk(cmk)), wrapped);
      return describe(s.keys(), id);
    }
  }

  @Command(
      name = "rotate",
      mixinStandardHelpOptions = true,
      description = "Add a new primary version; older versions still decrypt.")
  static final class Rotate extends OnKek {
    @Override
    KekDescription apply(Session s) {
      s.keys().admin().rotateKek(id);
      return describe(s.keys(), id);
    }
  }

  @Command(
      name = "min-version",
      mixinStandardHelpOptions = true,
      description = "Refuse to decrypt under versions below VERSION (after a rewrap).")
  static final class MinVersion extends OnKek {
    @Parameters(index = "1", paramLabel = "VERSION", description = "The minimum version.")
    int version;

    @Override
    KekDescription apply(Session s) {
      return s.keys().admin().setMinimumDecryptionVersion(id, version);
    }
  }

  @Command(
      name = "change-cmk",
      mixinStandardHelpOptions = true,
      description = "Re-wrap every version of the KEK under another CMK; DEKs stay valid.")
  static final class ChangeCmk extends OnKek {
    @Option(names = "--cmk", required = true, paramLabel = "URI", description = "The new CMK.")
    String cmk;

    @Override
    KekDescription apply(Session s) {
      return s.keys().admin().changeCmk(id, s.checkCmk(cmk(cmk)));
    }
  }

  /** disable / enable / cancel-destruction: one call on one id. */
  abstract static class Simple extends OnKek {
    private final BiFunction<KeyManager, String, KekDescription> op;

    Simple(BiFunction<KeyManager, String, KekDescription> op) {
      this.op = op;
    }

    @Override
    KekDescription apply(Session s) {
      return op.apply(s.keys(), id);
    }
  }

  @Command(
      name = "disable",
      mixinStandardHelpOptions = true,
      description = "Disable the KEK: nothing wraps or unwraps under it until enabled.")
  static final class Disable extends Simple {
    Disable() {
      super((k, id) -> k.admin().disableKek(id));
    }
  }

  @Command(name = "enable", mixinStandardHelpOptions = true, description = "Enable the KEK again.")
  static final class Enable extends Simple {
    Enable() {
      super((k, id) -> k.admin().enableKek(id));
    }
  }

  @Command(
      name = "cancel-destruction",
      mixinStandardHelpOptions = true,
      description = "Cancel a scheduled destruction; the KEK becomes disabled.")
  static final class CancelDestruction extends Simple {
    CancelDestruction() {
      super((k, id) -> k.admin().cancelKekDestruction(id));
    }
  }

  @Command(
      name = "schedule-destruction",
      mixinStandardHelpOptions = true,
      description = "Schedule the KEK's destruction after a pending window (crypto-shredding).")
  static final class ScheduleDestruction extends OnKek {
    @Option(
        names = "--pending-window",
        required = true,
        paramLabel = "DURATION",
        description = "How long until destruction, such as 7d or P30D.")
    String window;

    @Override
    KekDescription apply(Session s) {
      return s.keys()
          .admin()
          .scheduleKekDestruction(id, Config.parseDuration(window, "--pending-window"));
    }
  }

  @Command(
      name = "destroy-due",
      mixinStandardHelpOptions = true,
      description = "Destroy every KEK whose pending window has passed; prints their ids.")
  static final class DestroyDue extends BaseCommand {
    @Override
    int run() {
      try (Session s = session()) {
        List<String> ids = s.keys().admin().destroyDueKeks();
        print(ids, ids.isEmpty() ? "(none due)" : String.join(System.lineSeparator(), ids));
      }
      return ExitCodes.OK;
    }
  }
}

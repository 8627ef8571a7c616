package dev.keymanager.cli;

import java.io.PrintWriter;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code keymanager} command and its error handling: one line and an exit code per failure. */
@Command(
    name = "keymanager",
    mixinStandardHelpOptions = true,
    versionProvider = Cli.Version.class,
    description = "The keymanager operator's tool: inspect, KEK lifecycle, rewrap, doctor.",
    subcommands = {
      InspectCommand.class,
      KekCommands.class,
      EncryptCommand.class,
      DecryptCommand.class,
      RewrapCommand.class,
      DoctorCommand.class,
      StoreCommands.class,
      AutoComplete.GenerateCompletion.class,
      CommandLine.HelpCommand.class
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:success (doctor: every check passed)",
      "1:internal error (a bug; -v shows a stack trace)",
      "2:invalid input (flags, malformed or tampered data, no such file)",
      "3:configuration (store URI, KMS scheme, provider, config file)",
      "4:KMS denied access (CMK disabled, deleted or not granted)",
      "5:unavailable, retry later (KMS or store outage, timeout, throttling)",
      "6:KEK state forbids it (disabled, destroyed, unknown, racing change)",
      "7:store record corrupt",
      "8:local file I/O failure"
    })
final class Cli {
  final CliEnv env;

  Cli(CliEnv env) {
    this.env = env;
  }

  /** The command line, writing data to {@code out} and messages to {@code err}. */
  static CommandLine commandLine(CliEnv env, PrintWriter out, PrintWriter err) {
    CommandLine cl = new CommandLine(new Cli(env));
    cl.setOut(out);
    cl.setErr(err);
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    cl.setParameterExceptionHandler(
        (ex, args) -> {
          PrintWriter e = ex.getCommandLine().getErr();
          e.println(
              "keymanager: "
                  + ExitCodes.describe(ex)
                  + " (see '"
                  + ex.getCommandLine().getCommandSpec().qualifiedName()
                  + " --help')");
          e.flush();
          return ExitCodes.INVALID_INPUT;
        });
    cl.setExecutionExceptionHandler(
        (ex, line, parsed) -> {
          int code = ExitCodes.of(ex);
          PrintWriter e = line.getErr();
          e.println("keymanager: " + ExitCodes.describe(ex));
          if (code == ExitCodes.INTERNAL && Verbosity.level() >= 1) {
            ex.printStackTrace(e);
          }
          e.flush();
          return code;
        });
    return cl;
  }

  /** Runs one invocation and returns its exit code. */
  static int run(CliEnv env, PrintWriter out, PrintWriter err, String... args) {
    try {
      return commandLine(env, out, err).execute(args);
    } finally {
      out.flush();
      err.flush();
    }
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Cli.class.getPackage().getImplementationVersion();
      return new String[] {"keymanager " + (v == null ? "(development build)" : v)};
    }
  }
}

package dev.keymanager.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** A leaf command: the global options, the environment, and output in text or JSON. */
abstract class BaseCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin GlobalOptions global;

  CliEnv env() {
    return ((Cli) spec.root().userObject()).env;
  }

  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  PrintWriter err() {
    return spec.commandLine().getErr();
  }

  Config config() {
    Verbosity.set(global.verbose.length);
    return Config.load(global, env().variables());
  }

  Session session() {
    return Session.open(env(), config());
  }

  /** Prints {@code data} as JSON with {@code --json}, else {@code text}. */
  void print(Object data, String text) {
    out().println(global.json ? Json.write(data) : text);
    out().flush();
  }

  @Override
  public final Integer call() throws Exception {
    return run();
  }

  abstract int run() throws Exception;
}

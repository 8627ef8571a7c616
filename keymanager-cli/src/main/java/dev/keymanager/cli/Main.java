package dev.keymanager.cli;

import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.Charset;

/** {@code java -jar keymanager.jar ...}: runs the tool and exits with its exit code. */
public final class Main {
  private Main() {}

  /** Runs {@code keymanager} with {@code args}; exits with the documented exit code. */
  public static void main(String[] args) {
    Charset cs = Charset.defaultCharset();
    PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, cs), true);
    PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, cs), true);
    System.exit(Cli.run(CliEnv.system(), out, err, args));
  }
}

package dev.keymanager.testkit;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KekState;
import java.util.ArrayList;
import java.util.List;

/**
 * A record of lifecycle operations as a fleet of key managers acknowledged them: for each, the
 * node, the call and its argument, when it was invoked and when it returned ({@link
 * System#nanoTime()}, which on one machine every JVM reads from the same monotonic clock), and what
 * it returned. {@link LifecycleRace} writes one; {@link LinearizabilityChecker} judges it.
 *
 * <p>Thread-safe. Every operation serialises to one text line ({@link Op#toLine()}), so a child
 * process can hand its part of a history to its parent on standard output.
 */
public final class LifecycleHistory {
  /** What was called. */
  public enum Kind {
    CREATE,
    IMPORT,
    ROTATE,
    SET_MINIMUM,
    CHANGE_CMK,
    DISABLE,
    ENABLE,
    SCHEDULE_DESTRUCTION,
    CANCEL_DESTRUCTION,
    DESTROY,
    DESCRIBE,
    WRAP
  }

  /** How the call ended. */
  public enum Outcome {
    /** It returned normally. */
    OK,
    /** It threw a {@link dev.keymanager.KekStateException} other than not-found. */
    REFUSED,
    /** It threw {@link dev.keymanager.KekNotFoundException} (or describe returned empty). */
    NOT_FOUND,
    /** It threw anything else: its effect is unknown. */
    FAILED
  }

  /**
   * One acknowledged operation.
   *
   * @param node the key manager that ran it
   * @param kind the call
   * @param kekId the KEK it was about
   * @param argument the CMK URI of create, import and change of CMK, the minimum of set-minimum,
   *     else {@code "-"}
   * @param invoked {@link System#nanoTime()} just before the call
   * @param returned {@link System#nanoTime()} just after it returned or threw
   * @param outcome how it ended
   * @param state the state its returned description shows, or the state a refusal names; null if
   *     neither
   * @param version the primary version its description shows; the version a create, import,
   *     rotation or wrap returned (for import: the version asked for); 0 if none
   * @param minimum the minimum decryption version its description shows; 0 if none
   * @param detail the CMK URI of a returned version record, the exception class of a failure, or
   *     {@code "-"}
   */
  public record Op(
      String node,
      Kind kind,
      String kekId,
      String argument,
      long invoked,
      long returned,
      Outcome outcome,
      KekState state,
      int version,
      int minimum,
      String detail) {
    /** Checks the fields; no tab or line break in the strings. */
    public Op {
      requireNonNull(node, "node");
      requireNonNull(kind, "kind");
      requireNonNull(kekId, "kekId");
      requireNonNull(argument, "argument");
      requireNonNull(outcome, "outcome");
      requireNonNull(detail, "detail");
      for (String s : List.of(node, kekId, argument, detail)) {
        if (s.isEmpty() || s.indexOf('\t') >= 0 || s.indexOf('\n') >= 0) {
          throw new IllegalArgumentException("empty or holds a tab or line break: " + s);
        }
      }
      if (returned < invoked) {
        throw new IllegalArgumentException("returned before it was invoked: " + kind);
      }
    }

    /** The operation as one tab-separated line, read back by {@link #parse}. */
    public String toLine() {
      return String.join(
          "\t",
          node,
          kind.name(),
          kekId,
          argument,
          Long.toString(invoked),
          Long.toString(returned),
          outcome.name(),
          state == null ? "-" : state.name(),
          Integer.toString(version),
          Integer.toString(minimum),
          detail);
    }

    /** Reads a line written by {@link #toLine}. */
    public static Op parse(String line) {
      String[] f = line.split("\t", -1);
      if (f.length != 11) {
        throw new IllegalArgumentException("not an operation line: " + line);
      }
      return new Op(
          f[0],
          Kind.valueOf(f[1]),
          f[2],
          f[3],
          Long.parseLong(f[4]),
          Long.parseLong(f[5]),
          Outcome.valueOf(f[6]),
          f[7].equals("-") ? null : KekState.valueOf(f[7]),
          Integer.parseInt(f[8]),
          Integer.parseInt(f[9]),
          f[10]);
    }

    @Override
    public String toString() {
      return toLine().replace('\t', ' ');
    }
  }

  private final List<Op> ops = new ArrayList<>();

  /** Adds an operation. */
  public synchronized void add(Op op) {
    ops.add(requireNonNull(op, "op"));
  }

  /** Adds every operation of {@code lines} (as {@link Op#toLine()} wrote them). */
  public synchronized void addLines(List<String> lines) {
    for (String line : lines) {
      ops.add(Op.parse(line));
    }
  }

  /** A copy of the operations, in the order they were added. */
  public synchronized List<Op> ops() {
    return new ArrayList<>(ops);
  }

  /** Every operation as a line, in the order added. */
  public synchronized List<String> lines() {
    return ops.stream().map(Op::toLine).toList();
  }
}

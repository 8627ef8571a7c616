package dev.keymanager.testkit;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KekState;
import dev.keymanager.testkit.LifecycleHistory.Kind;
import dev.keymanager.testkit.LifecycleHistory.Op;
import dev.keymanager.testkit.LifecycleHistory.Outcome;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Judges a {@link LifecycleHistory}: is there one serial order of its operations, consistent with
 * real time (an operation that returned before another was invoked comes first), in which each
 * operation, applied to a model of the KEK's head (exists, state, primary version, minimum
 * decryption version, CMK), is allowed and returns what it returned? That is linearizability.
 *
 * <p>Linearizability is local: a history is linearizable if the history of each KEK is, because
 * each KEK's head is its own object. So the search runs per KEK, over the orders real time allows
 * (Wing and Gong's search, with the set of operations placed and the model state remembered so that
 * no prefix is explored twice). It is exponential in the number of overlapping operations on one
 * KEK: keep the operations per KEK modest (at most {@value #MAX_OPS_PER_KEK}).
 *
 * <p>Wraps are not part of that order, because a key manager wraps under a primary version it
 * cached, for up to its hard TTL. They are checked against a bound instead: a wrap under version
 * <i>v</i> is a violation if it started after a change made on the same node returned showing
 * <i>v</i> forbidden (the KEK not enabled, or a minimum decryption version above <i>v</i>), or more
 * than {@code crossNodeBound} after any other operation returned showing so (a change on another
 * node, a describe or a refusal anywhere), unless an operation that could have enabled <i>v</i>
 * again (one returning it enabled) overlaps the gap.
 *
 * <p>Operations that {@linkplain Outcome#FAILED failed} with an unknown effect are not judged;
 * {@link Report#failed()} counts them, so a caller can insist there are none.
 */
public final class LinearizabilityChecker {
  /** The most operations on one KEK that {@link #check} accepts. */
  public static final int MAX_OPS_PER_KEK = 62;

  private static final Set<KekState> LIVE = EnumSet.of(KekState.ENABLED, KekState.DISABLED);

  private final long crossNodeBoundNanos;

  /**
   * A checker.
   *
   * @param crossNodeBound how long a node may keep wrapping under a primary version it cached after
   *     another node forbade it: the key managers' hard TTL
   */
  public LinearizabilityChecker(Duration crossNodeBound) {
    this.crossNodeBoundNanos = requireNonNull(crossNodeBound, "crossNodeBound").toNanos();
  }

  /**
   * What the check found.
   *
   * @param keks KEKs whose histories were searched
   * @param ops lifecycle operations judged (wraps and failures not included)
   * @param wraps wraps checked against the bound
   * @param failed operations with an unknown effect, not judged
   * @param violations one line per KEK with no serial order, and per forbidden wrap; empty if the
   *     history is linearizable
   */
  public record Report(int keks, int ops, int wraps, int failed, List<String> violations) {
    /** Copies the list. */
    public Report {
      violations = List.copyOf(violations);
    }

    @Override
    public String toString() {
      return "keks="
          + keks
          + " ops="
          + ops
          + " wraps="
          + wraps
          + " failed="
          + failed
          + " violations="
          + violations.size()
          + (violations.isEmpty() ? "" : " " + violations);
    }
  }

  /**
   * Checks a history.
   *
   * @throws IllegalArgumentException if one KEK has more than {@value #MAX_OPS_PER_KEK} judged
   *     operations
   */
  public Report check(List<Op> history) {
    Map<String, List<Op>> byKek = new LinkedHashMap<>();
    int failed = 0;
    for (Op op : history) {
      if (op.outcome() == Outcome.FAILED) {
        failed++;
      } else {
        byKek.computeIfAbsent(op.kekId(), k -> new ArrayList<>()).add(op);
      }
    }
    List<String> violations = new ArrayList<>();
    int ops = 0;
    int wraps = 0;
    for (Map.Entry<String, List<Op>> e : byKek.entrySet()) {
      List<Op> lifecycle = new ArrayList<>();
      List<Op> wrapOps = new ArrayList<>();
      for (Op op : e.getValue()) {
        (op.kind() == Kind.WRAP ? wrapOps : lifecycle).add(op);
      }
      if (lifecycle.size() > MAX_OPS_PER_KEK) {
        throw new IllegalArgumentException(
            "KEK "
                + e.getKey()
                + " has "
                + lifecycle.size()
                + " operations; at most "
                + MAX_OPS_PER_KEK);
      }
      ops += lifecycle.size();
      if (!new Search(lifecycle).linearizable()) {
        violations.add("KEK " + e.getKey() + ": no serial order explains " + lifecycle);
      }
      for (Op w : wrapOps) {
        if (w.outcome() == Outcome.OK) {
          wraps++;
          checkWrap(w, lifecycle, violations);
        }
      }
    }
    return new Report(byKek.size(), ops, wraps, failed, violations);
  }

  private void checkWrap(Op wrap, List<Op> lifecycle, List<String> violations) {
    int v = wrap.version();
    for (Op d : lifecycle) {
      if (!forbids(d, v)) {
        continue;
      }
      // A node drops what it cached when it changes a KEK itself, not when it reads one: its own
      // describe or refusal saying DISABLED bounds its wraps as another node's change does.
      boolean ownChange =
          d.node().equals(wrap.node()) && d.outcome() == Outcome.OK && d.kind() != Kind.DESCRIBE;
      long bound = ownChange ? 0 : crossNodeBoundNanos;
      if (d.returned() + bound >= wrap.invoked()) {
        continue;
      }
      boolean reEnabled = false;
      for (Op e : lifecycle) {
        if (allows(e, v) && e.returned() > d.invoked() && e.invoked() < wrap.returned()) {
          reEnabled = true;
          break;
        }
      }
      if (!reEnabled) {
        violations.add("wrap " + wrap + " started after " + d + " returned forbidding v" + v);
        return;
      }
    }
  }

  /** Whether {@code op}'s result shows version {@code v} may not be wrapped under. */
  private static boolean forbids(Op op, int v) {
    if (op.state() == null || op.outcome() == Outcome.NOT_FOUND) {
      return false;
    }
    if (op.state() != KekState.ENABLED) {
      return true;
    }
    return op.outcome() == Outcome.OK && showsDescription(op.kind()) && op.minimum() > v;
  }

  /** Whether {@code op}'s result shows version {@code v} enabled (or could have made it so). */
  private static boolean allows(Op op, int v) {
    if (op.outcome() != Outcome.OK) {
      return false;
    }
    if (showsDescription(op.kind())) {
      return op.state() == KekState.ENABLED && op.minimum() <= v;
    }
    return op.kind() == Kind.CREATE || op.kind() == Kind.IMPORT || op.kind() == Kind.ROTATE;
  }

  private static boolean showsDescription(Kind kind) {
    return switch (kind) {
      case CREATE, IMPORT, ROTATE, WRAP -> false;
      default -> true;
    };
  }

  /** The model of one KEK's head; {@link #ABSENT} before it exists. */
  private record Head(boolean exists, KekState state, int primary, int minimum, String cmk) {
    static final Head ABSENT = new Head(false, null, 0, 0, "-");

    static Head created(String cmk) {
      return new Head(true, KekState.ENABLED, 1, 1, cmk);
    }

    Head state(KekState s) {
      return new Head(true, s, primary, minimum, cmk);
    }

    Head primary(int p) {
      return new Head(true, state, p, minimum, cmk);
    }
  }

  /** Applies {@code op} to {@code h}: the next head, or null if {@code op} cannot happen there. */
  private static Head apply(Head h, Op op) {
    if (op.outcome() == Outcome.NOT_FOUND) {
      if (h.exists()) {
        return null;
      }
      return op.kind() != Kind.CREATE && (op.kind() != Kind.IMPORT || op.version() != 1) ? h : null;
    }
    if (!h.exists()) {
      if (op.outcome() != Outcome.OK) {
        return null;
      }
      boolean first =
          (op.kind() == Kind.CREATE || op.kind() == Kind.IMPORT)
              && op.version() == 1
              && op.detail().equals(op.argument());
      return first ? Head.created(op.argument()) : null;
    }
    if (op.outcome() == Outcome.REFUSED) {
      if (op.state() != null && op.state() != h.state()) {
        return null;
      }
      return allowedFrom(op.kind()).contains(h.state())
              && !(op.kind() == Kind.IMPORT && h.state() == KekState.ENABLED)
          ? null
          : h; // an import refused on an enabled KEK named a version taken already
    }
    if (!allowedFrom(op.kind()).contains(h.state())) {
      return null;
    }
    Head next =
        switch (op.kind()) {
          case CREATE -> null;
          case IMPORT -> op.version() > h.primary() ? h.primary(op.version()) : null;
          case ROTATE ->
              op.version() > h.primary() && op.detail().equals(h.cmk())
                  ? h.primary(op.version())
                  : null;
          case SET_MINIMUM -> {
            int m = Integer.parseInt(op.argument());
            yield m <= h.primary() ? new Head(true, h.state(), h.primary(), m, h.cmk()) : null;
          }
          case CHANGE_CMK -> new Head(true, h.state(), h.primary(), h.minimum(), op.argument());
          case DISABLE -> h.state(KekState.DISABLED);
          case ENABLE -> h.state(KekState.ENABLED);
          case SCHEDULE_DESTRUCTION -> h.state(KekState.PENDING_DESTRUCTION);
          case CANCEL_DESTRUCTION -> h.state(KekState.DISABLED);
          case DESTROY -> h.state(KekState.DESTROYED);
          case DESCRIBE -> h;
          case WRAP -> throw new IllegalArgumentException("wraps are not ordered");
        };
    if (next == null || !showsDescription(op.kind())) {
      return next;
    }
    boolean shown =
        op.state() == next.state()
            && op.version() == next.primary()
            && (next.state() == KekState.DESTROYED || op.minimum() == next.minimum());
    return shown ? next : null;
  }

  /**
   * The states an operation succeeds from (create and import of version 1: none, handled above).
   */
  private static Set<KekState> allowedFrom(Kind kind) {
    return switch (kind) {
      case CREATE -> EnumSet.noneOf(KekState.class);
      case IMPORT, ROTATE -> EnumSet.of(KekState.ENABLED);
      case SET_MINIMUM, CHANGE_CMK, DISABLE, ENABLE, SCHEDULE_DESTRUCTION -> LIVE;
      case CANCEL_DESTRUCTION -> EnumSet.of(KekState.PENDING_DESTRUCTION);
      case DESTROY -> EnumSet.of(KekState.PENDING_DESTRUCTION, KekState.DESTROYED);
      case DESCRIBE -> EnumSet.allOf(KekState.class);
      case WRAP -> EnumSet.noneOf(KekState.class);
    };
  }

  /** Wing and Gong's search over one KEK's operations, remembering (placed set, model) pairs. */
  private static final class Search {
    private final List<Op> ops;
    private final Set<Object> seen = new HashSet<>();

    Search(List<Op> ops) {
      this.ops = new ArrayList<>(ops);
      this.ops.sort(Comparator.comparingLong(Op::invoked));
    }

    boolean linearizable() {
      return place(0L, Head.ABSENT);
    }

    private record Visit(long placed, Head model) {}

    private boolean place(long placed, Head model) {
      int n = ops.size();
      if (placed == (n == 64 ? -1L : (1L << n) - 1)) {
        return true;
      }
      if (!seen.add(new Visit(placed, model))) {
        return false;
      }
      // The next operation must have been invoked before every unplaced one returned.
      long firstReturn = Long.MAX_VALUE;
      for (int i = 0; i < n; i++) {
        if ((placed & (1L << i)) == 0) {
          firstReturn = Math.min(firstReturn, ops.get(i).returned());
        }
      }
      for (int i = 0; i < n; i++) {
        if ((placed & (1L << i)) != 0) {
          continue;
        }
        Op op = ops.get(i);
        if (op.invoked() > firstReturn) {
          break; // sorted by invocation: every later one starts after that return too
        }
        Head next = apply(model, op);
        if (next != null && place(placed | (1L << i), next)) {
          return true;
        }
      }
      return false;
    }
  }
}

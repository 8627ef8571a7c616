package dev.keymanager.cli;

import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code keymanager store ...}: store administration that needs no KMS. */
@Command(
    name = "store",
    mixinStandardHelpOptions = true,
    description = "KEK store administration.",
    subcommands = StoreCommands.Copy.class)
final class StoreCommands {
  /** KEK ids per store call while copying. */
  private static final int PAGE_SIZE = 1000;

  private StoreCommands() {}

  @Command(
      name = "copy",
      mixinStandardHelpOptions = true,
      description = {
        "Copy every KEK record from one store to another (such as file: to jdbc:), verifying each"
            + " by reading it back. Idempotent: records already copied are skipped; a record that"
            + " differs in the target is a conflict (exit 6) and is left alone; a record the source"
            + " cannot read is reported and not copied (exit 6).",
        "Records are copied as stored (wrapped material, states, revisions); no KMS call."
      })
  static final class Copy extends BaseCommand {
    @Option(names = "--from", required = true, paramLabel = "URI", description = "Source store.")
    String from;

    @Option(names = "--to", required = true, paramLabel = "URI", description = "Target store.")
    String to;

    @Override
    int run() {
      Config config = config();
      long copied = 0;
      long present = 0;
      long conflicts = 0;
      long unreadable = 0;
      StringBuilder text = new StringBuilder();
      try (KekStore source = Session.openStore(from, config);
          KekStore target = Session.openStore(to, config)) {
        String after = "";
        for (boolean more = true; more; ) {
          KekIdPage page = source.kekIds(after, PAGE_SIZE);
          for (String problem : page.unreadable()) {
            unreadable++;
            text.append("unreadable: ")
                .append(problem)
                .append("; not copied")
                .append(System.lineSeparator());
          }
          for (String id : page.ids()) {
            try {
              for (KeyEncryptionKey r : source.versions(id)) {
                switch (copy(target, r)) {
                  case COPIED -> copied++;
                  case PRESENT -> present++;
                  case CONFLICT -> {
                    conflicts++;
                    text.append("conflict: KEK ")
                        .append(r.ref())
                        .append(" differs in the target; left alone")
                        .append(System.lineSeparator());
                  }
                }
              }
              // The head orders the KEK's state and primary version: copied after the versions it
              // names, so the target never names a version it does not hold.
              Optional<KekHead> head = source.head(id);
              if (head.isPresent()) {
                switch (copyHead(target, head.get())) {
                  case COPIED -> copied++;
                  case PRESENT -> present++;
                  case CONFLICT -> {
                    conflicts++;
                    text.append("conflict: the head of KEK ")
                        .append(id)
                        .append(" differs in the target; left alone")
                        .append(System.lineSeparator());
                  }
                }
              }
            } catch (KekStoreException e) {
              if (e.isRetryable()) {
                throw e;
              }
              unreadable++; // a corrupt record: the other KEKs are still copied
              text.append("unreadable: KEK ")
                  .append(id)
                  .append(": ")
                  .append(e.getMessage())
                  .append("; not copied")
                  .append(System.lineSeparator());
            }
          }
          more = page.hasMore() && !page.ids().isEmpty();
          if (more) {
            after = page.ids().get(page.ids().size() - 1);
          }
        }
      }
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("copied", copied);
      m.put("alreadyPresent", present);
      m.put("conflicts", conflicts);
      m.put("unreadable", unreadable);
      text.append(
          String.format(
              "copied %d records, %d already present, %d conflicts, %d unreadable",
              copied, present, conflicts, unreadable));
      print(m, text.toString());
      return conflicts == 0 && unreadable == 0 ? ExitCodes.OK : ExitCodes.STATE;
    }

    enum Outcome {
      COPIED,
      PRESENT,
      CONFLICT
    }

    /**
     * Copies one record: created at revision 1, then stepped by compare-and-set to the source's
     * revision (a store accepts revision 1 on create only), then read back and compared.
     */
    static Outcome copy(KekStore target, KeyEncryptionKey r) {
      Optional<KeyEncryptionKey> existing = target.find(r.id(), r.version());
      if (existing.isPresent()) {
        return verdict(existing.get(), r);
      }
      KeyEncryptionKey first = r.toBuilder().revision(1).build();
      if (!target.create(first)) {
        return verdict(target.find(r.id(), r.version()).orElseThrow(), r);
      }
      for (long rev = 2; rev <= r.revision(); rev++) {
        if (!target.compareAndSet(rev - 1, r.toBuilder().revision(rev).build())) {
          return Outcome.CONFLICT; // another writer changed it meanwhile
        }
      }
      KeyEncryptionKey back =
          target
              .find(r.id(), r.version())
              .orElseThrow(
                  () ->
                      new CliException(
                          ExitCodes.STORE_CORRUPT,
                          "KEK " + r.ref() + " was written to the target but does not read back"));
      if (!back.equals(r)) {
        throw new CliException(
            ExitCodes.STORE_CORRUPT,
            "KEK " + r.ref() + " reads back from the target other than written: " + back);
      }
      return Outcome.COPIED;
    }

    /** As {@link #copy} for a KEK's head record. */
    static Outcome copyHead(KekStore target, KekHead h) {
      Optional<KekHead> existing = target.head(h.id());
      if (existing.isPresent()) {
        return existing.get().equals(h) ? Outcome.PRESENT : Outcome.CONFLICT;
      }
      if (!target.createHead(h.toBuilder().revision(1).build())) {
        return target.head(h.id()).orElseThrow().equals(h) ? Outcome.PRESENT : Outcome.CONFLICT;
      }
      for (long rev = 2; rev <= h.revision(); rev++) {
        if (!target.compareAndSetHead(rev - 1, h.toBuilder().revision(rev).build())) {
          return Outcome.CONFLICT; // another writer changed it meanwhile
        }
      }
      KekHead back =
          target
              .head(h.id())
              .orElseThrow(
                  () ->
                      new CliException(
                          ExitCodes.STORE_CORRUPT,
                          "The head of KEK " + h.id() + " was written but does not read back"));
      if (!back.equals(h)) {
        throw new CliException(
            ExitCodes.STORE_CORRUPT,
            "The head of KEK " + h.id() + " reads back other than written");
      }
      return Outcome.COPIED;
    }

    private static Outcome verdict(KeyEncryptionKey inTarget, KeyEncryptionKey r) {
      return inTarget.equals(r) ? Outcome.PRESENT : Outcome.CONFLICT;
    }
  }
}

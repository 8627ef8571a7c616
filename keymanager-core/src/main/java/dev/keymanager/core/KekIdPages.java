package dev.keymanager.core;

import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import java.util.List;
import java.util.function.Consumer;

/**
 * Walks every page of {@link KekStore#kekIds(String, int)}, so no caller holds more than a page.
 */
final class KekIdPages {
  /** Ids per store call: a few hundred KiB of ids at most, and one round trip per thousand KEKs. */
  static final int PAGE_SIZE = 1000;

  private KekIdPages() {}

  /**
   * Passes every id to {@code each}, in {@link KekIdPage#ORDER}, and every unreadable entry to
   * {@code unreadable}, page by page.
   */
  static void forEach(KekStore store, Consumer<String> unreadable, Consumer<String> each) {
    String after = "";
    while (true) {
      KekIdPage page = store.kekIds(after, PAGE_SIZE);
      page.unreadable().forEach(unreadable);
      List<String> ids = page.ids();
      ids.forEach(each);
      if (!page.hasMore() || ids.isEmpty()) {
        return;
      }
      after = ids.get(ids.size() - 1);
    }
  }
}

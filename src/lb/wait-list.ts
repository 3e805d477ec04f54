/**
 * An intrusive, insertion-ordered list: the links live on the members themselves, so adding and
 * removing allocate nothing and leave nothing behind.
 *
 * Why not a `Set` (which the proxy used for each backend's waiting attempts): measured under wrk
 * (64 connections) with `--trace-gc-nvp`, one `Set.add` and one `Set.delete` per request made
 * every scavenge keep ~1.9 MB alive (new_space_survived; ~90 KB without them) and pause 4–11 ms
 * instead of ~0.8 ms, which put a GC pause into about one request in twenty: the p99. Our reading
 * of the cause (from V8's design; the measurement is what is certain): when add/delete churn fills
 * an OrderedHashSet's table, V8 rebuilds it into a new one, and the obsolete table keeps a link to
 * its successor and its entries (for live iterators). Once a
 * table is promoted, that chain of dead tables, each still holding the requests that were in
 * flight when it was rebuilt, keeps every later table and every request graph it reaches alive
 * through each scavenge until the next full mark-compact. A list whose removed members drop their
 * links cannot form such a chain.
 */

/** A member: the list owns these fields (`undefined` while not in a list). */
export interface WaitLink<T extends WaitLink<T>> {
  waitPrev: T | undefined;
  waitNext: T | undefined;
  /** The list it is in, so a second `delete` (or one on another list) does nothing. */
  waitList: WaitList<T> | undefined;
}

export class WaitList<T extends WaitLink<T>> {
  private head: T | undefined = undefined;
  private tail: T | undefined = undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The member added first (and still in). */
  first(): T | undefined {
    return this.head;
  }

  /** Appends `x`; a member of this list already is moved to the end. */
  add(x: T): this {
    if (x.waitList !== undefined) x.waitList.delete(x);
    x.waitList = this;
    x.waitPrev = this.tail;
    x.waitNext = undefined;
    if (this.tail === undefined) this.head = x;
    else this.tail.waitNext = x;
    this.tail = x;
    this.count += 1;
    return this;
  }

  /** Removes `x` when it is in this list; returns whether it was. */
  delete(x: T): boolean {
    if (x.waitList !== this) return false;
    const { waitPrev: prev, waitNext: next } = x;
    if (prev === undefined) this.head = next;
    else prev.waitNext = next;
    if (next === undefined) this.tail = prev;
    else next.waitPrev = prev;
    // Cleared, so a removed member (possibly already promoted by the GC) reaches nothing.
    x.waitPrev = undefined;
    x.waitNext = undefined;
    x.waitList = undefined;
    this.count -= 1;
    return true;
  }

  /** The members, oldest first, as a copy (safe while members are removed). */
  toArray(): T[] {
    const out: T[] = [];
    for (let x = this.head; x !== undefined; x = x.waitNext) out.push(x);
    return out;
  }
}

import { Actor } from "@praas/core";

export interface AccountState {
  balance: number;
}

/** Persisted on swap-out (the default mode); `depositAndSave` writes at once. */
export class Account extends Actor<AccountState> {
  static initialState(): AccountState {
    return { balance: 0 };
  }
  deposit(n: number): number {
    this.state.balance += n;
    return this.state.balance;
  }
  async depositAndSave(n: number): Promise<number> {
    this.state.balance += n;
    await this.saveState();
    return this.state.balance;
  }
  balance(): number {
    return this.state.balance;
  }
}

/** Written after every turn that changed it; the reply waits for the write. */
export class TurnAccount extends Account {
  static readonly persistence = "turn";
}

/** Never written. */
export class VolatileAccount extends Account {
  static readonly persistence = "none";
}

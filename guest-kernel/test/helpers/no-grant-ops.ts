/** The grant ops of an SDK slice for tests that map and copy nothing: each call fails loudly. */
const refuse = (): never => {
  throw new Error("no grant maps or copies in this test");
};

export const noGrantOps = { mapGrantRef: refuse, unmapGrantRef: refuse, copy: refuse };

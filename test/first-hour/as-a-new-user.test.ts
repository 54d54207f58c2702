/**
 * The repository as a new user meets it: a fresh checkout (`npm ci`, `npx
 * praas`, `npm start`) and the published packages installed in a project of
 * their own. These are the two heaviest tests of the suite (real installs and
 * builds), so they share this file and run one after the other: side by side
 * they would take both cores from every other test.
 */
import "./fresh-checkout.js";
import "./packages.js";

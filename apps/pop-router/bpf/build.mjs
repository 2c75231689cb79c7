// Compiles the kernel forward's BPF program (kernel-forward.bpf.c) into dist/bpf/ when clang is installed; without
// clang it says so and succeeds (the router then refuses --kernel-forward with POP_ERR_KERNEL_FORWARD). The object
// is a build output (dist/), never committed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const src = path.join(here, 'kernel-forward.bpf.c');
const out = path.join(here, '../dist/bpf/kernel-forward.bpf.o');
try {
  execFileSync('clang', ['--version'], { stdio: 'ignore' });
} catch {
  console.log(
    'pop-router: clang not found, the kernel forward BPF object is NOT built (apt-get install clang)',
  );
  process.exit(0);
}
// the uapi headers (linux-libc-dev) keep asm/ under the multiarch directory, which -target bpf does not search
const includes = ['/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu']
  .filter((d) => fs.existsSync(path.join(d, 'asm')))
  .flatMap((d) => ['-I', d]);
fs.mkdirSync(path.dirname(out), { recursive: true });
execFileSync('clang', ['-O2', '-g', '-Wall', '-target', 'bpf', ...includes, '-c', src, '-o', out], {
  stdio: 'inherit',
});
console.log(`pop-router: built ${path.relative(process.cwd(), out)}`);

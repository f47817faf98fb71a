import addModule from "./add.wasm";
import addAgain from "./add.wasm?module";
import kitModule from "wasm-kit/add.wasm";
import greeting from "./greeting.txt";
import page from "./pages/about.html";
import readme from "./README.md";
import notice from "../../shared/notice.md";

async function add(module: WebAssembly.Module, a: number, b: number): Promise<number> {
  const instance = await WebAssembly.instantiate(module);
  return (instance.exports.add as (a: number, b: number) => number)(a, b);
}

export default {
  async fetch(): Promise<Response> {
    return Response.json({
      add: await add(addModule, 2, 3),
      again: await add(addAgain, 4, 5),
      kit: await add(kitModule, 20, 22),
      sameModule: addModule instanceof WebAssembly.Module,
      greeting: greeting.trim(),
      page: page.trim(),
      readme: readme.trim(),
      notice: notice.trim(),
    });
  },
};

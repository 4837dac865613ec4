console.log('wasm build pending');

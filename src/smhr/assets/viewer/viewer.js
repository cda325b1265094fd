// smhr viewer: every image of an `smhr demo` run with its overlay and its hands in 3D.
// Data: the JSON in <script id="smhr-data">; THREE: the vendored three.js (inlined before this).
// Meshes come as int16 vertices (offset + scale per hand, OpenCV camera axes, metres) and
// per-side triangle lists; they are shown in three.js axes (y up): (x, -y, -z).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("smhr-data").textContent);
  const status = document.getElementById("status");
  const fail = (msg) => { status.textContent = "viewer error: " + msg; status.className = "error"; };
  window.addEventListener("error", (e) => fail(e.message));

  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out.buffer;
  }
  const faces = {};
  for (const [side, f] of Object.entries(data.faces)) {
    faces[side] = f.uint32 ? new Uint32Array(bytes(f.data)) : new Uint16Array(bytes(f.data));
  }

  const view = document.getElementById("view");
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  view.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0xf4f4f4);
  const camera = new THREE.PerspectiveCamera(40, 1, 0.005, 50);
  scene.add(camera);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x667788, 1.6));
  const key = new THREE.DirectionalLight(0xffffff, 1.8);
  key.position.set(0.3, 0.5, 1.0);
  camera.add(key);
  const labels = document.getElementById("labels");
  const toggles = document.getElementById("toggles");

  // orbit (drag), zoom (wheel), reset (double click) about a target point
  const orbit = { target: new THREE.Vector3(), radius: 1, theta: 0, phi: Math.PI / 2, home: null };
  function place() {
    const o = orbit, s = Math.sin(o.phi);
    camera.position.set(o.target.x + o.radius * s * Math.sin(o.theta), o.target.y + o.radius * Math.cos(o.phi),
                        o.target.z + o.radius * s * Math.cos(o.theta));
    camera.lookAt(o.target);
    render();
  }
  let drag = null;
  view.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; view.setPointerCapture(e.pointerId); });
  view.addEventListener("pointerup", () => { drag = null; });
  view.addEventListener("pointermove", (e) => {
    if (!drag) return;
    orbit.theta -= (e.clientX - drag[0]) * 0.01;
    orbit.phi = Math.min(Math.PI - 0.05, Math.max(0.05, orbit.phi - (e.clientY - drag[1]) * 0.01));
    drag = [e.clientX, e.clientY];
    place();
  });
  view.addEventListener("wheel", (e) => {
    e.preventDefault();
    orbit.radius = Math.min(20, Math.max(0.02, orbit.radius * Math.exp(e.deltaY * 0.001)));
    place();
  }, { passive: false });
  view.addEventListener("dblclick", () => { Object.assign(orbit, orbit.home); place(); });

  let meshes = [];
  function render() {
    renderer.render(scene, camera);
    const w = view.clientWidth, h = view.clientHeight;
    for (const m of meshes) {
      const p = m.anchor.clone().project(camera);
      m.label.style.display = m.mesh.visible && p.z < 1 ? "" : "none";
      m.label.style.left = ((p.x + 1) / 2 * w) + "px";
      m.label.style.top = ((1 - p.y) / 2 * h) + "px";
    }
  }

  function show(index) {
    for (const m of meshes) { scene.remove(m.mesh); m.mesh.geometry.dispose(); }
    meshes = [];
    labels.textContent = "";
    toggles.textContent = "";
    const item = data.images[index];
    document.querySelectorAll("#list li").forEach((li, i) => li.classList.toggle("active", i === index));
    document.getElementById("overlay").src = item.overlay;
    document.getElementById("title").textContent = item.source + " \u2014 " + item.hands.length + " hand(s)";
    const box = new THREE.Box3();
    item.hands.forEach((h, k) => {
      const q = new Int16Array(bytes(h.q)), pos = new Float32Array(q.length);
      for (let i = 0; i < q.length; i += 3) {
        pos[i] = h.offset[0] + q[i] * h.scale;
        pos[i + 1] = -(h.offset[1] + q[i + 1] * h.scale);
        pos[i + 2] = -(h.offset[2] + q[i + 2] * h.scale);
      }
      const g = new THREE.BufferGeometry();
      g.setAttribute("position", new THREE.BufferAttribute(pos, 3));
      g.setIndex(new THREE.BufferAttribute(faces[h.side], 1));
      g.computeVertexNormals();
      const colour = h.side === "left" ? 0x4287f5 : 0xf58230;
      const mesh = new THREE.Mesh(g, new THREE.MeshStandardMaterial({ color: colour, roughness: 0.7, side: THREE.DoubleSide }));
      scene.add(mesh);
      box.expandByObject(mesh);
      const label = document.createElement("div");
      label.className = "label " + h.side;
      label.textContent = "hand " + k + " \u00b7 " + h.side;
      labels.appendChild(label);
      const anchor = new THREE.Vector3(h.wrist[0], -h.wrist[1], -h.wrist[2]);
      meshes.push({ mesh, label, anchor });
      const t = document.createElement("label");
      t.className = h.side;
      const box2 = document.createElement("input");
      box2.type = "checkbox"; box2.checked = true; box2.id = "hand" + k;
      box2.addEventListener("change", () => { mesh.visible = box2.checked; render(); });
      t.appendChild(box2);
      t.appendChild(document.createTextNode(" hand " + k + " (" + h.side + ", score " + h.score.toFixed(2) + ")"));
      toggles.appendChild(t);
    });
    if (item.hands.length) {
      const c = box.getCenter(new THREE.Vector3()), size = box.getSize(new THREE.Vector3()).length();
      // start where the photo was taken from (the camera at the origin), looking at the hands
      const r = 1.1 * size / (2 * Math.tan(THREE.MathUtils.degToRad(camera.fov / 2)));  // the hands fill the view
      orbit.home = { target: c, radius: r, theta: Math.atan2(-c.x, -c.z), phi: Math.acos(Math.max(-1, Math.min(1, -c.y / c.length()))) };
    } else {
      orbit.home = { target: new THREE.Vector3(0, 0, -0.8), radius: 0.8, theta: 0, phi: Math.PI / 2 };
    }
    Object.assign(orbit, orbit.home);
    resize();
  }

  function resize() {
    const w = view.clientWidth, h = view.clientHeight;
    renderer.setSize(w, h);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    place();
  }
  window.addEventListener("resize", resize);

  const list = document.getElementById("list");
  data.images.forEach((item, i) => {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = item.overlay; img.alt = item.stem; img.loading = "lazy";
    li.appendChild(img);
    li.appendChild(document.createTextNode(item.stem + " (" + item.hands.length + ")"));
    li.addEventListener("click", () => show(i));
    list.appendChild(li);
  });
  if (data.images.length) show(0); else status.textContent = "no images in this run";
  window.smhrViewer = { images: data.images.length, show, meshes: () => meshes.length };
  document.body.dataset.ready = "1";
})();

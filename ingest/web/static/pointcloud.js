// Point clouds (.pcd: ascii, binary, binary_compressed) parsed by three's PCDLoader and drawn
// in 3D with WebGL (orbit with the mouse, wheel to zoom); where the browser has no WebGL, a
// top-down view (x right, y up) on a 2D canvas, coloured by height. Loaded on demand with
// import() by the viewer, so pages without point clouds never fetch three.
import * as THREE from "./vendor/three.module.js";
import { OrbitControls } from "./vendor/OrbitControls.js";
import { PCDLoader } from "./vendor/PCDLoader.js";

function heightColours(positions) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 2; i < positions.length; i += 3) {
    lo = Math.min(lo, positions[i]);
    hi = Math.max(hi, positions[i]);
  }
  const colours = new Float32Array(positions.length);
  const c = new THREE.Color();
  for (let i = 0; i < positions.length; i += 3) {
    const t = hi > lo ? (positions[i + 2] - lo) / (hi - lo) : 0.5;
    c.setHSL(0.66 - 0.66 * t, 0.9, 0.55);
    colours.set([c.r, c.g, c.b], i);
  }
  return colours;
}

function topDown(canvas, positions, colours) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#0f131b";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < positions.length; i += 3) {
    x0 = Math.min(x0, positions[i]); x1 = Math.max(x1, positions[i]);
    y0 = Math.min(y0, positions[i + 1]); y1 = Math.max(y1, positions[i + 1]);
  }
  const scale = 0.9 * Math.min(canvas.width / (x1 - x0 || 1), canvas.height / (y1 - y0 || 1));
  const ox = (canvas.width - (x1 - x0) * scale) / 2;
  const oy = (canvas.height - (y1 - y0) * scale) / 2;
  for (let i = 0; i < positions.length; i += 3) {
    const r = Math.round(colours[i] * 255);
    const g = Math.round(colours[i + 1] * 255);
    const b = Math.round(colours[i + 2] * 255);
    ctx.fillStyle = "rgb(" + r + "," + g + "," + b + ")";
    ctx.fillRect(ox + (positions[i] - x0) * scale - 1, canvas.height - oy - (positions[i + 1] - y0) * scale - 1, 2.5, 2.5);
  }
}

function webgl(canvas, points) {
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ canvas: canvas, antialias: true, preserveDrawingBuffer: true });
  } catch (e) {
    return null;
  }
  renderer.setSize(canvas.width, canvas.height, false);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x0f131b);
  points.geometry.computeBoundingSphere();
  const { center, radius } = points.geometry.boundingSphere;
  const camera = new THREE.PerspectiveCamera(55, canvas.width / canvas.height, radius / 100, radius * 20);
  camera.up.set(0, 0, 1); // sensor frames: z up
  camera.position.set(center.x - radius * 1.2, center.y - radius * 1.2, center.z + radius * 1.1);
  points.material.size = Math.max(radius / 150, 0.01);
  scene.add(points);
  const controls = new OrbitControls(camera, canvas);
  controls.target.copy(center);
  controls.update();
  const draw = () => renderer.render(scene, camera);
  controls.addEventListener("change", draw);
  draw();
  return renderer;
}

// Draw the point cloud at `url` on `canvas`; resolves to {points, mode: "3d" | "top-down"}.
export async function showPointCloud(canvas, url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error("point cloud: " + response.status + " " + response.statusText);
  const points = new PCDLoader().parse(await response.arrayBuffer());
  const positions = points.geometry.getAttribute("position").array;
  let colour = points.geometry.getAttribute("color");
  if (!colour) {
    colour = new THREE.BufferAttribute(heightColours(positions), 3);
    points.geometry.setAttribute("color", colour);
  }
  points.material = new THREE.PointsMaterial({ vertexColors: true, size: 0.05 });
  const count = positions.length / 3;
  if (webgl(canvas, points)) return { points: count, mode: "3d" };
  topDown(canvas, positions, colour.array);
  return { points: count, mode: "top-down" };
}
